"""The Allure dashboard, opened in a real headless Chromium: suites, a measured value and a plot."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (make test installs Debian's chromium where it runs as root)")
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.skip("the Allure generator is not installed (make test runs npm install)")
    pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) drives the browser")
    work = tmp_path_factory.mktemp("dashboard")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q", "-m", "integration or parity",
         "--reports-dir", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert (work / "allure-results" / "environment.properties").is_file(), run.stdout[-2000:]
    assert (work / "allure-results" / "categories.json").is_file()
    gen = subprocess.run(["npx", "allure", "generate", str(work / "allure-results"), "-o", str(work / "report")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=os.environ | {"ALLURE_HISTORY_PATH": str(work / "history.jsonl")})
    assert (work / "report" / "index.html").is_file(), gen.stdout[-2000:] + gen.stderr[-2000:]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=work / "report"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/index.html", json.loads((work / "signoff.json").read_text())
    server.shutdown()


def test_dashboard_shows_suites_a_measured_value_and_a_plot(dashboard):
    from playwright.sync_api import expect, sync_playwright

    url, signoff = dashboard
    parity = next(c for c in signoff["criteria"] if c["id"] == "parity.min_cosine")
    shots = ROOT / "reports" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            for suite in ("Integration", "Quality"):  # epics: the PRD areas
                expect(page.get_by_text(suite, exact=True).first).to_be_visible(timeout=20_000)
            page.screenshot(path=str(shots / "dashboard-overview.png"))
            for label in ("Quality", "parity", "parity.min_cosine", "test_parity_min_cosine"):
                page.get_by_text(label, exact=True).first.click()
            expect(page.get_by_text("measured", exact=True).first).to_be_visible(timeout=10_000)
            expect(page.get_by_text(f"{parity['measured']:.8g}", exact=False).first).to_be_visible()
            page.get_by_text("parity_cosine_hist.png", exact=True).first.click()
            plot = page.locator("img").first
            expect(plot).to_be_visible(timeout=10_000)
            assert plot.evaluate("img => img.naturalWidth") > 100, "the plot image did not load"
            page.screenshot(path=str(shots / "dashboard-parity.png"), full_page=True)
        finally:
            browser.close()
