"""The documentation site: it builds with warnings as errors, its internal links resolve, it loads
nothing from the network, and its pages load in headless Chromium without console errors and with
their math rendered.

The site is built once per run (about 15 s) into a temporary folder. The browser test drives Chromium
over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no extra package) and is
skipped where Chromium is not installed (CI installs Debian's ``chromium``; see ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site's folder: ``sphinx-build -W --keep-going -b html docs`` into a fresh folder."""
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out


class _Page(HTMLParser):
    """The ids a page defines, the links and resources it refers to, and whether it holds math."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs, self.math = set(), [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.refs.append((tag, attrs[name]))
        if "math" in (attrs.get("class") or "").split():
            self.math += 1


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages(site):
    return sorted(site.rglob("*.html"))


def test_the_site_builds_every_guide_and_api_page(site):
    for name in ("index", "install", "choosing-a-loss", "semantics", "migration", "detection", "segmentation",
                 "nlp", "boosting", "distributed", "compile", "performance", "evidence", "cli", "changelog",
                 "contributing", "api/functional", "api/modules", "api/boosting", "api/huggingface",
                 "api/reference", "api/losses"):
        assert (site / f"{name}.html").is_file(), name


def test_the_api_reference_documents_every_public_name(site):
    import focalloss
    from focalloss import boosting
    from focalloss.integrations import huggingface

    documented = set()
    for page in (site / "api").glob("*.html"):
        documented |= _parse(page).ids
    public = [f"focalloss.{name}" for name in focalloss.__all__ if name not in ("boosting", "losses", "reference")]
    public += [f"focalloss.boosting.{name}" for name in boosting.__all__]
    public += [f"focalloss.integrations.huggingface.{name}" for name in huggingface.__all__]
    missing = [name for name in public if name not in documented]
    assert not missing, missing


def test_internal_links_resolve(site):
    """Every link and resource that stays inside the site names a file that exists, and an anchor that
    the target page defines."""
    parsed = {}
    broken = []
    for page in _pages(site):
        for tag, ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {ref}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in parsed:
                    parsed[target] = _parse(target).ids
                ids = parsed[target]
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {ref} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_the_site_loads_nothing_from_the_network(site):
    """Scripts, style sheets and images are the site's own files (MathJax included): it renders offline."""
    remote = []
    for page in _pages(site):
        for tag, ref in _parse(page).refs:
            if tag in ("script", "link", "img") and (urlsplit(ref).scheme or ref.startswith("//")):
                remote.append(f"{page.relative_to(site)}: {ref}")
    assert not remote, remote
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


# --------------------------------------------------------------------------------------------------
# Headless Chromium, driven over the DevTools protocol on a pipe
# --------------------------------------------------------------------------------------------------
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """A headless Chromium with a fresh profile; ``load(url)`` returns what the page reported."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="focalloss-chromium-")
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()

        def on_fds_3_and_4():  # the pipe protocol: the browser reads fd 3 and writes fd 4
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=on_fds_3_and_4, close_fds=False,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id, self.events = b"", 0, []

    def call(self, method, params=None, session=None, timeout=60):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m, i=self._id: m.get("id") == i, timeout)
        assert "error" not in reply, (method, reply)
        return reply["result"]

    def wait(self, matches, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if matches(message):
                    return message
                self.events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer")
            if select.select([self._from_browser], [], [], left)[0]:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise EOFError("Chromium closed its pipe")
                self._buffer += chunk

    def load(self, url, script):
        """Open url in a new tab, wait for its load event, evaluate `script` (awaiting a promise) and
        return (its value, the console errors, exceptions and failed loads the page reported)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        value = self.call("Runtime.evaluate", {"expression": script, "awaitPromise": True, "returnByValue": True},
                          session=session)
        self.call("Target.closeTarget", {"targetId": target})
        problems = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                problems.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                problems.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                problems.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return value.get("result", {}).get("value"), problems

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    chromium = Browser(binary)
    yield chromium
    chromium.close()


# What a page reports once MathJax (where the page loads it) has typeset it: the rendered formulas,
# MathJax's own error nodes, and the source formulas still untypeset.
RENDERED = """
(window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(() => ({
    rendered: document.querySelectorAll("mjx-container").length,
    errors: document.querySelectorAll("mjx-merror, merror").length,
    math: document.querySelectorAll(".math").length,
    title: document.title,
}))
"""


def test_every_page_loads_in_chromium_without_errors_and_with_its_math_rendered(site, browser):
    failures = []
    for page in _pages(site):
        if page.name in ("search.html", "genindex.html", "py-modindex.html"):
            continue  # generated indexes, no content of ours
        report, problems = browser.load(page.as_uri(), RENDERED)
        name = page.relative_to(site)
        if problems:
            failures.append(f"{name}: {problems}")
        if report is None or not report["title"]:
            failures.append(f"{name}: did not load ({report})")
        elif report["math"] and (report["rendered"] < report["math"] or report["errors"]):
            failures.append(f"{name}: {report['rendered']} of {report['math']} formulas rendered, "
                            f"{report['errors']} MathJax errors")
    assert not failures, "\n".join(failures)


def test_the_api_reference_renders_the_formulas(site, browser):
    """A test of the test: the loss functions' page holds formulas, and MathJax turns them into
    rendered nodes (so "no math" on a page cannot pass for rendered math)."""
    report, problems = browser.load((site / "api" / "functional.html").as_uri(), RENDERED)
    assert not problems
    assert report["math"] >= 14 and report["rendered"] >= report["math"], report
