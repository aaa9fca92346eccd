"""The dashboard in a real headless Chromium, served by `streamlit run` from the emulator bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.model_file import metrics_json
from tests.cases import traffic_records
from tests.dashboard.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    make_dashboard,
    need_chromium,
)
from tests.dashboard.seed import seed_history, seed_traffic


@pytest.fixture(scope="module")
def dashboard(gcs_emulator, tmp_path_factory, trained_artifacts):
    """One seeded bucket and one `make dashboard` for both widths (the page is read-only).

    The live version serves a week of traffic counted by a real trained model's bins, the
    day before yesterday shifted, and keeps that model's training counts in its metrics.
    """
    need_chromium()
    uri = f"gs://heartml-test/browser-{id(tmp_path_factory)}"
    store = open_store(uri)
    run_ids = seed_history(store, 30)
    model = served_model.load_trained(trained_artifacts)
    trained = json.loads((trained_artifacts / "metrics.json").read_text())
    live_metrics = json.loads(store.read_bytes(registry.metrics_key(run_ids[-1])))
    live_metrics["monitoring_reference"] = trained["monitoring_reference"]
    store.write_bytes(registry.metrics_key(run_ids[-1]), metrics_json(live_metrics))
    today = datetime.now(UTC).date()
    days = {
        str(today - timedelta(days=n)): traffic_records(n < 3, seed=30 + n)[: 200 + 20 * n]
        for n in range(7)
    }
    seed_traffic(open_store(f"{uri}-monitoring"), model, days, run_id=run_ids[-1])
    with make_dashboard(uri, tmp_path_factory.mktemp("dashboard") / "streamlit.log") as url:
        yield url, run_ids


@pytest.mark.parametrize("width", [1440, 390])
def test_the_page_answers_a_users_questions_at_a_glance(dashboard, width) -> None:
    """At desktop and phone width: the live version, why one was held back, the compare view."""
    from playwright.sync_api import sync_playwright

    url, run_ids = dashboard
    held_back = [r for i, r in enumerate(run_ids) if i % 7 == 3][-1]
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 3600})  # the whole page
        page.on(
            "console",
            lambda m: (
                console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
            ),
        )
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(url)
        page.wait_for_selector(f"text=Promoted: {run_ids[-1]}", timeout=60_000)
        page.wait_for_selector(
            "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg",
            timeout=30_000,
        )
        page.wait_for_selector(f"text=Lineage of {run_ids[-1]}", timeout=30_000)
        # The compare table by its content: the lineage table below it is the page's last
        # table once drawn, so "the last table" read the compare view only while it was not.
        compare_table = page.locator("[data-testid='stTable']", has_text="gate reasons").last
        compare_table.wait_for(timeout=30_000)
        compare = compare_table.inner_text()
        text = page.inner_text("body")
        charts = page.locator("[data-testid='stVegaLiteChart']:visible").count()
        tiles = page.locator("[data-testid='stMetric']:visible").all_inner_texts()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-{width}.png"), full_page=True)
        page.get_by_role("tab", name="Live traffic").click()
        page.wait_for_selector("text=Over these days, live inputs", timeout=30_000)
        shown = page.locator("[data-testid='stVegaLiteChart']:visible")
        shown.nth(1).locator("canvas, svg").first.wait_for(timeout=30_000)  # the heatmap
        traffic_text = page.inner_text("body")
        traffic_charts = shown.count()
        page.screenshot(path=str(SCREENSHOTS / f"traffic-{width}.png"), full_page=True)
        browser.close()
    assert "ModuleNotFoundError" not in text and "Traceback" not in text
    assert charts == 2
    # The live traffic: a week, drift named on the features the shifted day moved.
    assert traffic_charts == 2 and "Traceback" not in traffic_text
    assert "Over these days, live inputs have drifted" in traffic_text, traffic_text
    assert "age (PSI" in traffic_text and "chol (PSI" in traffic_text
    # The live version and its scores against the one before it.
    assert f"compared with {run_ids[-2]}" in text
    val_acc = next(t for t in tiles if t.startswith("accuracy on held-out rows"))
    assert "0.8700" in val_acc and "0.0100" in val_acc, tiles
    # Why a version was held back, in words, without opening anything.
    assert f"{held_back} (" in text and "is below live's" in text
    # The compare view, set to the live version and the one before it.
    assert "Compare two versions" in text
    compare = " ".join(compare.split())
    assert f"run id {run_ids[-1]} {run_ids[-2]}" in compare, compare
    assert "gate reasons" in compare and "git commit" in compare
    # Nothing in the console: no Vega "Infinite extent" warnings, no errors.
    assert console == [], console
