"""The examples run as shipped: the example scripts, and every code example of the README and the
documentation pages, as written.

A ```python block is a complete program: it is started in a fresh interpreter (in an empty folder)
and must finish cleanly. A ```pycon block is a doctest session: its outputs must match. Blocks of
other languages (bash, text) are not run.
"""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\n(?P<code>.*?)^(?P=indent)```$", re.S | re.M)


def code_blocks(language):
    """(page, number on that page, code) for every fenced block of `language` in the README and the docs."""
    blocks = []
    for page in PAGES:
        found = [m for m in FENCE.finditer(page.read_text(encoding="utf-8")) if m["language"] == language]
        for number, match in enumerate(found, 1):
            code = "\n".join(line[len(match["indent"]):] for line in match["code"].splitlines())
            blocks.append(pytest.param(page, number, code, id=f"{page.relative_to(ROOT)}-{number}"))
    return blocks


def _importing_this_focalloss():
    """The environment, with the folder of the focalloss these tests import first on PYTHONPATH (the
    examples run in an empty folder, where a relative PYTHONPATH such as ``src`` would not resolve)."""
    import focalloss

    home = str(Path(focalloss.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))}


def test_boosting_example_trains_both_engines_and_reports_calibration():
    run = subprocess.run([sys.executable, str(EXAMPLES / "boosting_imbalanced.py")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    for line in ("LightGBM focal, lightgbm.train", "LightGBM focal, LGBMClassifier", "XGBoost focal, xgboost.train",
                 "XGBoost focal, XGBClassifier", "Focal probabilities are not calibrated"):
        assert line in run.stdout


def test_the_readme_and_the_docs_hold_examples():
    """A test of the collection: the pages hold the examples the tests below run."""
    assert len(code_blocks("python")) >= 10 and len(code_blocks("pycon")) >= 1
    assert any(page.name == "README.md" for page, _, _ in (p.values for p in code_blocks("python")))


@pytest.mark.parametrize("page, number, code", code_blocks("python"))
def test_python_example_runs_as_written(page, number, code, tmp_path):
    script = tmp_path / "docs_example.py"  # a name no module of the examples imports
    script.write_text(code, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env=_importing_this_focalloss())
    assert run.returncode == 0, f"{page.name}, example {number}:\n{code}\n\n{run.stderr}"


@pytest.mark.parametrize("page, number, code", code_blocks("pycon"))
def test_console_example_prints_what_it_shows(page, number, code):
    test = doctest.DocTestParser().get_doctest(code, {}, f"{page.name} example {number}", str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
