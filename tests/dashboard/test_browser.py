"""The dashboard in a real headless Chromium, served by `streamlit run` from the emulator bucket."""

from __future__ import annotations

import pytest

from heartml.store import open_store
from tests.dashboard.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    make_dashboard,
    need_chromium,
)
from tests.dashboard.seed import seed_history

SCREENSHOT = SCREENSHOTS / "dashboard.png"


@pytest.fixture
def dashboard(gcs_uri, tmp_path):
    need_chromium()
    run_ids = seed_history(open_store(gcs_uri), 30)
    with make_dashboard(gcs_uri, tmp_path / "streamlit.log") as url:
        yield url, run_ids


def test_the_page_shows_the_chart_and_the_live_version(dashboard) -> None:
    from playwright.sync_api import sync_playwright

    url, run_ids = dashboard
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
