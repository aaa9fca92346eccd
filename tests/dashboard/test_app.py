"""The dashboard's logic through Streamlit's AppTest, on 0, 1 and 500 versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts, read_card
from heartml.views import card_page
from heartml.views.markdown import cell
from tests.cases import traffic_records
from tests.dashboard.seed import seed_history, seed_traffic
from tests.helpers import REPO, publish_once, serve_function, stop_function
from tests.markdown import ZERO_WIDTH, read, rendered

APP = str(REPO / "dashboard" / "app.py")


def run_app(monkeypatch, store_uri: str, sink_uri: str | None = None) -> AppTest:
    monkeypatch.setenv("PIPELINE_STORE", store_uri)
    # Never the checkout's own monitoring-store (make serve fills it): an empty one by default.
    monkeypatch.setenv("MONITOR_STORE", sink_uri or f"{store_uri}-monitoring")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def test_an_empty_store_says_how_to_get_a_first_version(monkeypatch, tmp_path) -> None:
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert "No versions yet" in app.info[0].value
    assert app.get("vega_lite_chart") == []


def frame(app: AppTest, column: str):
    """The page's table that has ``column`` (versions: "make it live"; compare: "differs")."""
    tables = [d.value for d in app.dataframe] + [t.value.reset_index() for t in app.table]
    found = [t for t in tables if column in t.columns]
    assert len(found) == 1, [list(d.value.columns) for d in app.dataframe]
    return found[0]


def test_one_version_shows_it_live_with_its_scores(monkeypatch, tmp_path) -> None:
    [run_id] = seed_history(open_store(tmp_path / "store"), 1)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert app.subheader[0].value == f"Promoted: {run_id}"
    assert [m.label for m in app.metric] == [
        "accuracy on held-out rows", "ROC AUC on held-out rows", "accuracy on training rows",
    ]  # fmt: skip
    assert app.metric[0].value == "0.8500" and not app.metric[0].delta  # nothing before it
    assert len(app.get("vega_lite_chart")) == 2
    versions = frame(app, "make it live")
    assert list(versions.columns[:4]) == ["status", "run_id", "roc_auc", "val_acc"]
    assert list(versions["run_id"]) == [run_id] and list(versions["status"]) == ["live"]
    assert versions.iloc[0]["make it live"] == ""  # it is live already
    assert not [t for t in app.table if "differs" in t.value.columns]  # nothing to compare


def test_five_hundred_versions_with_verdicts_drift_and_the_live_one_against_the_one_before(
    monkeypatch, tmp_path
) -> None:
    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 500, live_index=-2, pre_fix=200)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    live = run_ids[-2]
    assert app.subheader[0].value == f"Promoted: {live}"
    versions = frame(app, "make it live")
    assert len(versions) == 500
    assert list(versions.loc[versions["status"] == "live", "run_id"]) == [live]
    held = versions[versions["status"] == "held back"]
    assert len(held) == len([i for i in range(500) if i % 7 == 3])
    # Held-back versions say why, and the command to make them live carries FORCE=1.
    assert held["why held back"].str.contains("is below live's").all()
    assert (held["make it live"] == "make rollback TO=" + held["run_id"] + " FORCE=1").all()
    passed = versions[versions["status"] == "passed"]
    assert (passed["make it live"] == "make rollback TO=" + passed["run_id"]).all()
    # One time format everywhere.
    assert versions["trained"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC").all()
    assert "promoted 2026-11-27 08:00 UTC (trained)" in app.caption[1].value
    drift = frame(app, "against version")
    assert set(drift["drifted"]) == {"age"}
    # Each names the version its data was compared with (the seed's: the one before).
    assert (drift["against version"] == drift["version"].map(lambda r: f"{int(r[:4]) - 1}-1")).all()
    assert versions["label coding"].value_counts().to_dict() == {
        "current": 300,
        "pre-fix, turned round": 200,
    }
    # The metric's delta is the live version against the gate-passed one trained before it:
    # live is version 498 (roc_auc 0.90 + 2/200), 497 passed the gate (0.90 + 1/200).
    assert app.caption[1].value.endswith(f"compared with {run_ids[-3]}")
    assert app.metric[1].value == "0.9100"
    assert app.metric[1].delta == "+0.0050"
    # The newest held-back versions are listed with the gate's reasons.
    listed = app.markdown[0].value
    newest_held = [r for i, r in enumerate(run_ids) if i % 7 == 3][-1]
    assert listed.startswith(f"- **{newest_held}**") and "is below live's" in listed


def test_no_change_is_not_shown_as_a_rise(monkeypatch, tmp_path) -> None:
    import json

    from heartml.store import registry

    store = open_store(tmp_path / "store")
    first, second = seed_history(store, 2)
    same = json.loads(store.read_bytes(registry.metrics_key(first)))
    later = {**same, "run_id": second, "timestamp": "2026-01-02T08:00:00Z"}
    store.write_bytes(registry.metrics_key(second), json.dumps(later).encode())
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert [m.delta for m in app.metric] == ["no change"] * 3
    assert "+0.0000" not in str(app.metric)


def test_compare_shows_two_versions_side_by_side_and_what_differs(monkeypatch, tmp_path) -> None:
    store_uri = str(tmp_path / "store")
    run_ids = seed_history(open_store(store_uri), 5)
    app = run_app(monkeypatch, store_uri)
    table = frame(app, "differs").set_index("")
    # By default: the live version and the gate-passed one before it.
    # (Version 3 was held back, so the one before the live 4 is 2.)
    assert table.loc["run id", "version"] == run_ids[4]
    assert table.loc["run id", "with"] == run_ids[2]
    for fact in (
        "gate reasons",
        "dataset sha256",
        "dataset rows",
        "git commit",
        "scikit-learn version",
        "ROC AUC on held-out rows",
        "drifted",
    ):
        assert fact in table.index, fact
    assert table.loc["git commit", "differs"] == "≠"
    assert table.loc["python version", "differs"] == ""
    # Any two: pick the held-back version 3.
    app.selectbox(key="compare_b").set_value(run_ids[3]).run()
    table = frame(app, "differs").set_index("")
    assert table.loc["gate verdict", "with"] == "held back"
    assert "is below live's" in table.loc["gate reasons", "with"]


def test_the_lineage_of_the_live_version_is_shown(monkeypatch, tmp_path) -> None:
    store_uri = str(tmp_path / "store")
    run_ids = seed_history(open_store(store_uri), 3)
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/heart")
    app = run_app(monkeypatch, store_uri)
    assert f"Lineage of {run_ids[-1]}" in [h.value for h in app.subheader]
    lineage = frame(app, "value")
    facts = dict(zip(lineage[""], lineage["value"], strict=True))
    assert facts["code"] == f"https://github.com/someone/heart/commit/{2:040x}"
    assert facts["archived data"].endswith(f"datasets/{2:064x}.csv")
    assert facts["parameters"] == "C=1.0, max_iter=1000, seed=42, test_size=0.2"
    assert facts["model card"].endswith(f"models/cards/{run_ids[-1]}.md")
    intervals = frame(app, "roc_auc interval")["roc_auc interval"]
    assert intervals.iloc[0] == "0.860 to 0.950"  # newest first: seeded i = 2
    # Seeded versions predate cards: the expander says so instead of failing.
    card = app.expander[0]
    assert card.label == f"Model card of {run_ids[-1]}"
    assert card.markdown[0].value == (
        f"{run_ids[-1]} was archived before model cards were written: it has none."
    )


HOSTILE = "@team **now** see http://evil.example/x and #1 ![p](http://evil.example/p.png)"


def test_the_model_card_is_rendered_from_its_json_with_store_text_inert(
    monkeypatch, tmp_path, trained_artifacts
) -> None:
    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 2)
    card = json.loads(read_card(trained_artifacts)[0])
    card["run_id"] = run_ids[-1]
    card["intended_use"] = [HOSTILE]
    store.write_bytes(f"models/cards/{run_ids[-1]}.json", json.dumps(card).encode())
    # The stored Markdown is never what is shown: it could say anything.
    store.write_bytes(f"models/cards/{run_ids[-1]}.md", HOSTILE.encode())
    app = run_app(monkeypatch, str(tmp_path / "store"))
    shown = app.expander[0].markdown[0].value
    assert shown == card_page.render(card).strip()  # st.markdown drops the last newline
    html = rendered(shown)
    assert "<img" not in html and "<a " not in html and "<strong>now" not in html
    people_read = read(shown)
    assert (
        HOSTILE.replace("@", "@" + ZERO_WIDTH)
        .replace("#", "#" + ZERO_WIDTH)
        .replace("://", ":" + ZERO_WIDTH + "//")
        in people_read
    )  # every word kept, no mention, reference or link left


def test_a_malformed_stored_card_is_named_not_shown(monkeypatch, tmp_path) -> None:
    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 2)
    store.write_bytes(f"models/cards/{run_ids[-1]}.json", b'{"run_id": 5, "data": []}')
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert not app.exception
    assert app.expander[0].markdown[0].value == (
        f"The stored model card of {cell(run_ids[-1])} is malformed: not shown."
    )


@pytest.mark.parametrize("count", [1, 3])
def test_it_never_needs_a_model_file(monkeypatch, tmp_path, count) -> None:
    store = open_store(tmp_path / "store")
    seed_history(store, count)
    assert not [key for key in store.list_keys() if key.endswith(".joblib")]
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert len(frame(app, "make it live")) == count
    assert app.subheader[0].value.startswith("Promoted: ")


def test_a_new_version_shows_up_on_the_next_run(monkeypatch, tmp_path) -> None:
    store = open_store(tmp_path / "store")
    seed_history(store, 2)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert len(frame(app, "make it live")) == 2
    seed_history(store, 3)
    app.run()
    assert len(frame(app, "make it live")) == 3


def test_the_served_version_is_asked_of_the_function_and_a_mismatch_is_shown(
    monkeypatch, tmp_path
) -> None:
    store_dir = str(tmp_path / "store")
    first = publish_once(store_dir, tmp_path / "a", "run-1")
    publish_once(store_dir, tmp_path / "b", "run-2")
    # The revision deployed with run-1; run-2 was promoted since, with no deploy.
    function = serve_function(
        tmp_path,
        PIPELINE_STORE=store_dir,
        SERVED_RUN_ID="run-1",
        SERVED_MODEL_SHA256=first["model_sha256"],
    )
    try:
        monkeypatch.setenv("FUNCTION_URL", function.url)
        app = run_app(monkeypatch, store_dir)
    finally:
        stop_function(function.process)
    assert app.subheader[0].value == "Promoted: run-2"
    assert app.warning[0].value.startswith("Served: run-1, not the promoted run-2")


def test_a_malformed_metrics_file_is_skipped_not_a_crash(monkeypatch, tmp_path) -> None:
    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 3)
    store.write_bytes("models/metrics/broken-1.json", b'{"run_id": "broken-1", "gate": "yes"}')
    store.write_bytes("models/metrics/list-1.json", b"[1, 2]")
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert sorted(frame(app, "make it live")["run_id"]) == sorted(run_ids)  # newest first


def test_a_pointer_naming_a_version_without_metrics_still_renders(monkeypatch, tmp_path) -> None:
    import json

    from heartml.store import registry

    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 3)
    pointer = {"run_id": "gone-1", "promoted_at": "2026-11-27T08:00:00Z", "reason": "rollback"}
    store.write_bytes(registry.LATEST_POINTER_KEY, json.dumps(pointer).encode())
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert app.warning[0].value.startswith("The store names gone-1 as promoted, but its metrics")
    assert f"Lineage of {run_ids[-1]}" in [h.value for h in app.subheader]


def chart_rows(chart) -> list[dict]:
    """The rows a Vega-Lite chart on the page plots (Streamlit sends them as Arrow)."""
    import pyarrow as pa

    return pa.ipc.open_stream(chart.proto.data.data).read_pandas().to_dict("records")


def test_live_traffic_shows_each_day_the_drift_per_feature_and_hides_small_counts(
    monkeypatch, tmp_path, trained_artifacts
) -> None:
    """Three days of the live version (ordinary, shifted, five records) and an older version."""
    store_uri, sink_uri = str(tmp_path / "store"), str(tmp_path / "sink")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    model = served_model.load_trained(trained_artifacts)
    today = datetime.now(UTC).date()
    day = [str(today - timedelta(days=n)) for n in range(3)]
    ordinary, shifted = traffic_records(False, seed=21), traffic_records(True, seed=22)
    sink = open_store(sink_uri)
    seed_traffic(sink, model, {day[2]: ordinary, day[1]: shifted, day[0]: ordinary[:5]})
    seed_traffic(sink, model, {day[2]: ordinary[:50]}, run_id="older-1")
    seed_traffic(sink, model, {day[0]: shifted[:3]}, min_records=10)  # an early stop: held
    app = run_app(monkeypatch, store_uri, sink_uri)
    assert [t.label for t in app.tabs] == ["Versions", "Live traffic"]
    tab = app.tabs[1]
    picked = tab.selectbox(key="traffic_version")
    assert picked.value == "fixture-run" and set(picked.options) == {
        "fixture-run (live)", "older-1",
    }  # fmt: skip
    # Records, requests (one per seeded window), instances (a Monitor per window), and the
    # records of the early stop, counted but never binned.
    assert [m.value for m in tab.metric] == ["608", "4", "4", "3"]
    assert any("3 record(s) came from instances that stopped" in c.value for c in tab.caption)
    [drift] = tab.warning
    assert drift.value.startswith("Over these days, live inputs have drifted from training in ")
    assert "age (PSI" in drift.value and "chol (PSI" in drift.value
    volume, heat = (chart_rows(c) for c in tab.get("vega_lite_chart"))
    assert sorted((v["day"], v["version"], v["records"]) for v in volume) == [
        (day[2], "fixture-run", 300), (day[2], "older-1", 50),
        (day[1], "fixture-run", 300), (day[0], "fixture-run", 8),
    ]  # fmt: skip
    cells = {(c["day"], c["feature"]): c["psi"] for c in heat}
    assert {d for d, _ in cells} == {day[1], day[2]}  # five records are too few to judge
    for name in ("age", "chol"):
        assert cells[(day[1], name)] >= 0.2 > cells[(day[2], name)], name
    days = tab.dataframe[0].value
    assert list(days["day"]) == day and list(days["records"]) == [8, 300, 300]
    assert list(days["held below k"]) == [3, 0, 0]
    # Five records binned (and three held): counts only; every share is hidden.
    assert days.iloc[0][["missing", "out of range", "answered heart disease"]].isna().all()
    assert 0 < days.iloc[1]["answered heart disease"] < 1
    assert days.iloc[2]["missing"] == 0  # nobody sent a missing value: no one is singled out
    picked.set_value("older-1").run()
    tab = app.tabs[1]
    assert [m.value for m in tab.metric] == ["50", "1", "1", "0"]
    assert any("has no training counts in its metrics" in c.value for c in tab.caption)
