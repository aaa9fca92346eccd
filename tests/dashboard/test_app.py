"""The dashboard's logic through Streamlit's AppTest, on 0, 1 and 500 versions."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from heartml.store import open_store
from tests.dashboard.seed import seed_history
from tests.helpers import REPO, publish_once, serve_function, stop_function

APP = str(REPO / "dashboard" / "app.py")


def run_app(monkeypatch, store_uri: str) -> AppTest:
    monkeypatch.setenv("PIPELINE_STORE", store_uri)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def test_an_empty_store_says_how_to_get_a_first_version(monkeypatch, tmp_path) -> None:
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert "No versions yet" in app.info[0].value
    assert app.get("vega_lite_chart") == []


def test_one_version_shows_it_live_with_its_scores(monkeypatch, tmp_path) -> None:
    [run_id] = seed_history(open_store(tmp_path / "store"), 1)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert app.subheader[0].value == f"Promoted: {run_id}"
    assert [m.label for m in app.metric] == ["val_acc", "roc_auc", "acc"]
    assert app.metric[0].value == "0.8500"
    assert len(app.get("vega_lite_chart")) == 2
    versions = app.dataframe[-1].value
    assert list(versions["run_id"]) == [run_id]
    assert versions.iloc[0]["rollback"] == f"python -m steps.rollback --to {run_id}"


def test_five_hundred_versions_with_verdicts_drift_and_the_live_one_against_the_one_before(
    monkeypatch, tmp_path
) -> None:
    store = open_store(tmp_path / "store")
    run_ids = seed_history(store, 500, live_index=-2, pre_fix=200)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    live = run_ids[-2]
    assert app.subheader[0].value == f"Promoted: {live}"
    versions = app.dataframe[-1].value
    assert len(versions) == 500
    assert list(versions.loc[versions["live"] == "live", "run_id"]) == [live]
    assert (versions["gate"] == "held back").sum() == len([i for i in range(500) if i % 7 == 3])
    drift = app.dataframe[0].value
    assert set(drift["drifted"]) == {"age"}
    assert versions["label coding"].value_counts().to_dict() == {
        "current": 300,
        "pre-fix, turned round": 200,
    }
    assert "compared with" in app.caption[1].value
    # The metric's delta is the live version against the gate-passed one trained before it:
    # live is version 498 (roc_auc 0.90 + 2/200), 497 passed the gate (0.90 + 1/200).
    assert app.caption[1].value.endswith(f"compared with {run_ids[-3]}")
    assert app.metric[1].value == "0.9100"
    assert app.metric[1].delta == "+0.0050"


@pytest.mark.parametrize("count", [1, 3])
def test_it_never_needs_a_model_file(monkeypatch, tmp_path, count) -> None:
    store = open_store(tmp_path / "store")
    seed_history(store, count)
    assert not [key for key in store.list_keys() if key.endswith(".joblib")]
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert len(app.dataframe[-1].value) == count
    assert app.subheader[0].value.startswith("Promoted: ")


def test_a_new_version_shows_up_on_the_next_run(monkeypatch, tmp_path) -> None:
    store = open_store(tmp_path / "store")
    seed_history(store, 2)
    app = run_app(monkeypatch, str(tmp_path / "store"))
    assert len(app.dataframe[-1].value) == 2
    seed_history(store, 3)
    app.run()
    assert len(app.dataframe[-1].value) == 3


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
    assert sorted(app.dataframe[-1].value["run_id"]) == sorted(run_ids)  # newest first
