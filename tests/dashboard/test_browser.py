"""The dashboard in a real headless Chromium, served by `streamlit run` from the emulator bucket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from heartml.store import open_store
from tests.dashboard.seed import seed_history
from tests.helpers import REPO, free_port, python_env

# Debian's chromium here; GitHub's runners set CHROMIUM_PATH to their Google Chrome.
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"


@pytest.fixture
def dashboard(gcs_uri, tmp_path):
    if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    run_ids = seed_history(open_store(gcs_uri), 30)
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("streamlit")), "run", str(REPO / "dashboard" / "app.py"),
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=python_env(PIPELINE_STORE=gcs_uri), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}_stcore/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)  # polling for readiness against a deadline, not guessing
    else:
        os.killpg(process.pid, 15)
        pytest.fail(f"streamlit never became healthy:\n{(tmp_path / 'streamlit.log').read_text()}")
    yield url, run_ids
    os.killpg(process.pid, 15)
    process.wait(timeout=10)


def test_the_page_shows_the_chart_and_the_live_version(dashboard) -> None:
    from playwright.sync_api import sync_playwright

    url, run_ids = dashboard
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=60_000)
        page.wait_for_selector(f"text=Promoted: {run_ids[-1]}", timeout=30_000)
        charts = page.locator("[data-testid='stVegaLiteChart']").count()
        metrics = page.locator("[data-testid='stMetric']").all_inner_texts()
        captions = " ".join(page.locator("[data-testid='stCaptionContainer']").all_inner_texts())
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert charts == 2
    # What a user reads at the top: the live version's scores against the one before it.
    assert f"compared with {run_ids[-2]}" in captions
    assert "Heart disease is the positive class" in captions
    val_acc = next(text for text in metrics if text.startswith("val_acc"))
    assert "0.8700" in val_acc and "+0.0100" in val_acc, metrics
