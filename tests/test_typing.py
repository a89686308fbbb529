"""The public API is typed (PEP 561): `mypy --strict` accepts a user's script and reports the
mistakes a user makes against it. Runs the installed package, as a user's type checker sees it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

SCRIPTS = Path(__file__).parent / "typing"


def _mypy(script, cache):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-color-output", "--cache-dir", str(cache), str(script)],
        capture_output=True, text=True, timeout=600, cwd=SCRIPTS,
    )
    return result.returncode, result.stdout + result.stderr


def test_package_ships_its_marker():
    import focalloss

    assert (Path(focalloss.__file__).parent / "py.typed").is_file()


def test_strict_mypy_accepts_a_users_script(tmp_path):
    code, output = _mypy(SCRIPTS / "user_script.py", tmp_path)
    assert code == 0, output


def test_strict_mypy_reports_each_mistake(tmp_path):
    code, output = _mypy(SCRIPTS / "typo_script.py", tmp_path)
    assert code == 1, output
    errors = {int(line): text for line, text in re.findall(r"typo_script\.py:(\d+): error: (.*)", output)}
    source = (SCRIPTS / "typo_script.py").read_text().splitlines()
    marked = {number for number, line in enumerate(source, 1) if line.startswith("focalloss.")}
    assert set(errors) == marked, output  # one error on each line that holds a mistake, none elsewhere
    assert 'has no attribute "sigmoid_focal_los"' in errors[min(marked)]
    assert any('did you mean "gamma"' in text for text in errors.values())
