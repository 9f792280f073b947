"""The Allure dashboard, opened in a real headless Chromium: the verdict on the first screen, suites, a
measured value and a plot; and the fleet dashboard of two runs (fp32 and fp16 as two devices)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLURE_DIR = ROOT / "tools" / "allure"  # the dashboard generator's own folder (make test runs npm install there)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The meta-tests' profiles (parity at one batch size, Hypothesis without shrinking): the dashboard is
# what is tested here, not the thresholds.
META = ("--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))
META_ENV = os.environ | {"HYPOTHESIS_PROFILE": "meta"}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (make test installs Debian's chromium where it runs as root)")
    if not (ALLURE_DIR / "node_modules" / ".bin" / "allure").exists():
        pytest.skip("the Allure generator is not installed (make test runs npm install)")
    pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) drives the browser")
    work = tmp_path_factory.mktemp("dashboard")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q", "-m", "integration or parity",
         "--reports-dir", str(work), *META], cwd=ROOT, capture_output=True, text=True, timeout=600, env=META_ENV)
    assert (work / "allure-results" / "environment.properties").is_file(), run.stdout[-2000:]
    assert (work / "allure-results" / "categories.json").is_file()
    gen = subprocess.run(["npx", "allure", "generate", str(work / "allure-results"), "-o", str(work / "report")],
                         cwd=ALLURE_DIR, capture_output=True, text=True, timeout=300,
                         env=os.environ | {"ALLURE_HISTORY_PATH": str(work / "history.jsonl"),
                                           "ALLURE_HEADLINE_FILE": str(work / "headline.txt")})
    assert (work / "report" / "index.html").is_file(), gen.stdout[-2000:] + gen.stderr[-2000:]
    with serve(work / "report") as url:
        yield url, json.loads((work / "signoff.json").read_text()), work


@contextlib.contextmanager
def serve(directory: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=directory))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/index.html"
    finally:
        server.shutdown()


@contextlib.contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


SHOTS = ROOT / "reports" / "browser"


def test_dashboard_shows_suites_a_measured_value_and_a_plot(dashboard):
    from playwright.sync_api import expect

    url, signoff, _ = dashboard
    parity = next(c for c in signoff["criteria"] if c["id"] == "parity.min_cosine")
    shots = SHOTS
    shots.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        page.goto(url)
        # The verdict first: the report's name, and the criteria not met as global errors (a slice
        # never signs off: the criteria outside it are not-run).
        expect(page.get_by_text(re.compile(r"NOT SIGNED OFF \(\d+ criteria not met\)")).first).to_be_visible(
            timeout=20_000)
        expect(page.get_by_text("Global Errors").first).to_be_visible()
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


def test_fleet_dashboard_keeps_two_devices_apart_under_one_verdict(dashboard, tmp_path):
    """fp32 and fp16 of the default model as two "devices": merged into one dashboard, one Allure
    environment each, the fleet verdict on the first screen."""
    from playwright.sync_api import expect

    _, fp32_signoff, fp32 = dashboard
    fp16 = tmp_path / "fp16"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q", "-m", "parity",
         "--model", "all-minilm-l6-v2-fp16", "--reports-dir", str(fp16), *META], cwd=ROOT, capture_output=True,
        text=True, timeout=600, env=META_ENV)
    assert (fp16 / "signoff.json").is_file(), run.stdout[-2000:]
    out = tmp_path / "fleet"
    merge = subprocess.run([sys.executable, "-m", "acceptance.fleet", f"fp32={fp32}", f"fp16={fp16}",
                            "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert merge.returncode == 1, merge.stdout[-2000:] + merge.stderr[-2000:]  # two slices: not signed off
    assert "FLEET VERDICT: NOT SIGNED OFF" in merge.stdout
    fleet = json.loads((out / "fleet.json").read_text())
    assert [d["label"] for d in fleet["devices"]] == ["fp32", "fp16"]
    assert fleet["devices"][0]["model"]["onnx_sha256"] == fp32_signoff["model"]["onnx_sha256"]
    assert fleet["devices"][1]["model"]["onnx_sha256"] != fp32_signoff["model"]["onnx_sha256"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve(out / "allure-report") as url, browser_page() as page:
        page.goto(url)
        expect(page.get_by_text("Fleet sign-off: NOT SIGNED OFF (0 of 2 devices signed off)").first).to_be_visible(
            timeout=20_000)
        for device in ("fp32", "fp16"):
            expect(page.get_by_text(f'Environment: "{device}"').first).to_be_visible()
        page.screenshot(path=str(SHOTS / "fleet-overview.png"))
