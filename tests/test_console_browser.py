"""The operator console in a real headless Chromium (Debian's package, driven by Playwright): the demo's
incidents with their evidence and core status, the link through to an incident, and an operator's verdict
in the core's review queue coming back to the console. Screenshots go to test-artifacts/."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        unavailable("Chromium is not installed (bash scripts/setup.sh --test-tools installs Debian's package)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "watch1022", "demo", "--var", str(tmp_path / "var"),
                             "--port", str(port), "--duration", "120"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                rows = httpx.get(f"{base}/api/incidents", timeout=2).json()
                if any("camera" in r["sources"] and r["core_request_id"] for r in rows):
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        else:
            pytest.fail("the demo delivered no camera incident within 60 s")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)  # the demo stops cleanly on SIGTERM
        out = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, out


def test_console_shows_incidents_evidence_and_verdicts(chromium, demo):
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo + "/")
    rows = page.locator("#incidents tbody tr")
    assert rows.count() >= 2
    camera_row = page.locator("#incidents tbody tr", has_text="camera").first
    assert "Ngập nước" in camera_row.inner_text() and "1022 #" in camera_row.inner_text()
    thumb = camera_row.locator("img.thumb")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") > 0  # the evidence frame loads
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)

    # An operator rejects the camera incident in the core's review queue...
    camera_row.locator("a").first.click()
    page.wait_for_selector("h1")
    assert "Ngập nước" in page.inner_text("h1")
    case_id = next(r["core_request_id"] for r in httpx.get(demo + "/api/incidents").json() if "camera" in r["sources"])
    review = chromium.new_page()
    review.goto(demo + "/core/review")
    form = review.locator(f"form[action*='requests/{case_id}/reject']")
    form.locator("input[name=reason]").fill("bóng nước trên mặt đường ướt")
    form.locator("button, input[type=submit]").first.click()
    review.wait_for_load_state()
    review.screenshot(path=str(ARTIFACTS / "core-review.png"), full_page=True)

    # ...and the console shows the verdict once the bridge has polled the core.
    for _ in range(100):
        page.goto(demo + "/")
        row = page.locator("#incidents tbody tr[data-status=rejected]")
        if row.count():
            break
        time.sleep(0.2)
    assert "bóng nước" in row.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-verdict.png"), full_page=True)
