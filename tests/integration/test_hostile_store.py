"""Store contents are data, never structure: what someone else wrote into the bucket is
skipped or refused in one line, can neither crash a step nor steer it, and reaches
Markdown inert.

Each case plants one object in a folder store holding one honestly published version
(the folder and the bucket share every reader), then runs the steps that read it.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from heartml.ops import pull_request, traffic_windows
from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts, read_card
from heartml.views import run_summary
from tests.cases import traffic_records
from tests.dashboard.seed import seed_traffic
from tests.helpers import DATASET, REPO, call_step
from tests.markdown import ZERO_WIDTH, read, rendered

HOSTILE = "@team **now**: see http://evil.example/x, www.evil.example and #1 [here](http://e.x)"
INERT = (
    HOSTILE.replace("@", "@" + ZERO_WIDTH)
    .replace("#", "#" + ZERO_WIDTH)
    .replace("://", ":" + ZERO_WIDTH + "//")
    .replace("www.", "www" + ZERO_WIDTH + ".")
)


@pytest.fixture(scope="module")
def published(trained_artifacts, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "store"
    registry.publish(open_store(folder), *read_artifacts(trained_artifacts))
    return folder


@pytest.fixture
def store(published, tmp_path):
    """A private copy of the published store a test may plant things in."""
    return open_store(shutil.copytree(published, tmp_path / "store"))


def _live(store) -> str:
    return registry.live_run_id(store)


def _assert_inert(markdown: str) -> None:
    html = rendered(markdown)
    assert "<a " not in html and "<strong>now" not in html and "<img" not in html
    assert INERT in read(markdown)  # every word kept; no mention, reference or link left


# --- windows ------------------------------------------------------------------------------


def _sink_with_a_huge_window(tmp_path, trained_artifacts) -> str:
    model = served_model.load_trained(trained_artifacts)
    sink = open_store(tmp_path / "sink")
    today = str(datetime.now(UTC).date() - timedelta(days=1))
    seed_traffic(sink, model, {today: traffic_records(False, seed=3)})
    key = next(k for k in sink.list_keys() if traffic_windows.hour_of(k))
    entry = json.loads(sink.read_bytes(key).splitlines()[0])
    entry["insertId"] = "planted"
    entry["jsonPayload"]["monitoring"].update(requests=2**64, records=2**64)
    sink.write_bytes(key, sink.read_bytes(key) + json.dumps(entry).encode() + b"\n")
    return sink.uri


def test_a_window_of_2_to_the_64_records_is_skipped_by_the_monitor_in_one_line(
    store, tmp_path, trained_artifacts
) -> None:
    sink = _sink_with_a_huge_window(tmp_path, trained_artifacts)
    result = call_step(
        "monitor", "--from", sink, "--since", "2026-01-01",
        "--report-dir", str(tmp_path / "reports"), PIPELINE_STORE=store.uri,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "holds a malformed window (requests): skipped" in result.stderr
    assert "Traceback" not in result.stderr
    [written] = (tmp_path / "reports").glob("*.json")
    assert json.loads(written.read_text())["live"]["records"] == 300  # the real window only


def test_the_live_traffic_tab_skips_the_2_to_the_64_window(
    store, tmp_path, trained_artifacts, monkeypatch
) -> None:
    sink = _sink_with_a_huge_window(tmp_path, trained_artifacts)
    monkeypatch.setenv("PIPELINE_STORE", store.uri)
    monkeypatch.setenv("MONITOR_STORE", sink)
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not app.exception, app.exception
    assert any("malformed window (requests): skipped" in read(w.value) for w in app.warning)


# --- live model cards ---------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("planted", "field"),
    [
        (b'{"odds_ratios": 5}', "odds_ratios"),
        (
            json.dumps({"odds_ratios": [{"feature": "age", "codes": [1, 2]}]}).encode(),
            "odds_ratios",
        ),
        (
            json.dumps({"odds_ratios": [{"feature": {"a": 1}, "per_sd": 1.0}]}).encode(),
            "odds_ratios",
        ),
        (json.dumps({"git_commit": {"a": {"b": 1}}}).encode(), "git_commit"),
        (('{"odds_ratios": ' + _nested(5000) + "}").encode(), "nested too deeply"),
        (b"\xff\xfe not JSON", "not JSON"),
        (b'{"odds_ratios": [{"feature": "age", "per_sd": Infinity}]}', "odds_ratios"),
        (
            b'{"odds_ratios": [{"feature": "cp", "codes": {"2": 1' + b"0" * 400 + b"}}]}",
            "odds_ratios",
        ),
        (b'{"scores": {"roc_auc": {"value": NaN}}}', "scores.roc_auc.value"),
    ],
    ids=[
        "a-number",
        "codes-a-list",
        "feature-a-dict",
        "nested-value",
        "5000-deep",
        "bytes",
        "infinity",
        "ten-to-the-400",
        "nan",
    ],
)
def test_a_malformed_live_card_is_skipped_in_one_line_and_the_gate_still_judges(
    store, artifacts_copy, planted, field
) -> None:
    live = _live(store)
    store.write_bytes(registry.card_keys(live)["json"], planted)
    for _ in range(2):  # and every later gate, not only the first
        result = call_step("gate", "--artifacts", str(artifacts_copy), PIPELINE_STORE=store.uri)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        [warning] = [line for line in result.stderr.splitlines() if "is malformed" in line]
        assert field in warning and f"cards/{live}.json" in warning
    card = (artifacts_copy / "model_card.md").read_text()
    assert f"{live}'s model card is malformed" in read(card)


def test_mention_link_and_emphasis_from_a_live_card_arrive_inert(store, artifacts_copy) -> None:
    live = _live(store)
    card = json.loads(read_card(artifacts_copy)[0])
    card["git_commit"] = HOSTILE  # a field the differences table compares
    store.write_bytes(registry.card_keys(live)["json"], json.dumps(card).encode())
    result = call_step("gate", "--artifacts", str(artifacts_copy), PIPELINE_STORE=store.uri)
    assert result.returncode == 0, result.stderr
    _assert_inert((artifacts_copy / "model_card.md").read_text())
    summary = run_summary.render_run(artifacts_copy / "reports", artifacts_copy)
    _assert_inert(summary)  # the run summary, and the PR comment that carries it
    _assert_inert(pull_request.comment_body(summary))


def test_a_pointer_whose_run_id_could_format_is_not_read_as_a_version(
    store, artifacts_copy
) -> None:
    pointer = json.loads(store.read_bytes(registry.LATEST_POINTER_KEY))
    pointer["run_id"] = "@team #1"
    store.write_bytes(registry.LATEST_POINTER_KEY, json.dumps(pointer).encode())
    result = call_step("gate", "--artifacts", str(artifacts_copy), PIPELINE_STORE=store.uri)
    assert result.returncode == 0, result.stderr
    assert "names no valid run id: ignored" in result.stderr
    assert "@team" not in (artifacts_copy / "model_card.md").read_text()


def test_store_text_in_gate_reasons_and_validation_examples_is_inert() -> None:
    verdict = {
        "passed": False, "reasons": [HOSTILE], "notes": [], "rows": 1, "params": {},
        "candidate": {"run_id": "c1", "roc_auc": 0.5, "val_acc": 0.5, "slices": []},
        "behaviour": [{"check": HOSTILE, "passed": False, "detail": HOSTILE}],
    }  # fmt: skip
    validation = {
        "passed": False, "rows": 3, "warnings": [], "drift": None,
        "errors": [{"check": "codes", "column": "cp", "message": "bad", "examples": [HOSTILE]}],
    }  # fmt: skip
    text = run_summary.render(validation, verdict, None)
    assert read(text).count(INERT) == 4


# --- keys built from stored values --------------------------------------------------------


def test_a_dataset_sha256_of_dot_dot_never_names_a_key(store, tmp_path) -> None:
    outside = store.uri.rstrip("/") + "/../outside.csv"
    Path(outside).write_bytes(b"age,planted\n1,2\n")
    live = _live(store)
    metrics = json.loads(store.read_bytes(registry.metrics_key(live)))
    metrics["dataset"]["sha256"] = "../../outside"
    store.write_bytes(registry.metrics_key(live), json.dumps(metrics).encode())
    result = call_step(
        "validate", "--path", str(DATASET), "--reports", str(tmp_path), PIPELINE_STORE=store.uri
    )
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "64 hex digits" in line]
    assert "no drift reference" in warning
    assert json.loads((tmp_path / "validation.json").read_text())["drift"] is None
    history = call_step("history", "--store", store.uri)
    assert history.returncode == 0, history.stderr


# --- found by an attack on the first version of these checks ------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"probability": ["x"]}, "probability"),
        ({"probability": 5}, "probability"),
        ({"probability": [1e400]}, "probability"),
        ({"features": [1]}, "features"),
        ({"features": {"age": {"a": "x"}}}, "features.age"),
        ({"features": {"age": {"q1": 2**64}}}, "features.age"),
    ],
    ids=["text", "a-number", "infinity", "a-list", "text-count", "2-to-the-64"],
)
def test_a_count_only_window_is_checked_like_any_other(store, tmp_path, extra, field) -> None:
    window = {
        "format": "heartml-monitoring/2", "run_id": _live(store), "instance": "i-1",
        "start": "2026-11-28T08:00:00Z", "end": "2026-11-28T08:05:00Z", "requests": 3,
        "records": 3, "count_only": True, "errors": {},
    }  # fmt: skip
    assert traffic_windows.window_problem(window) is None
    sink = open_store(tmp_path / "sink")
    line = {"logger": "heartml.monitoring", "monitoring": window | extra}
    traffic_windows.collect([json.dumps(line)], sink)
    _, problems = traffic_windows.read_windows(sink)
    assert [p.split(" holds ")[1] for p in problems] == [f"a malformed window ({field}): skipped"]
    result = call_step(
        "monitor", "--from", sink.uri, "--report-dir", str(tmp_path / "r"),
        PIPELINE_STORE=store.uri,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert "holds no traffic windows yet" in result.stderr  # the only window was skipped


def test_a_score_no_metrics_record_could_hold_is_skipped_by_history(store) -> None:
    live = _live(store)
    metrics = json.loads(store.read_bytes(registry.metrics_key(live)))
    metrics["val_acc"] = "HUGE"
    planted = json.dumps(metrics).replace('"HUGE"', "1" + "0" * 400)
    store.write_bytes(registry.metrics_key(live), planted.encode())
    result = call_step("history", "--store", store.uri)
    assert result.returncode == 0, result.stderr
    assert "val_acc is not a number from 0 to 1" in result.stderr


def test_a_stored_card_whose_numbers_overflow_is_named_not_shown(store, artifacts_copy) -> None:
    from heartml.views import archive_view

    live = _live(store)
    card = json.loads(read_card(artifacts_copy)[0])
    card["calibration"]["ece"] = "HUGE"
    planted = json.dumps(card).replace('"HUGE"', "1" + "0" * 400)
    store.write_bytes(registry.card_keys(live)["json"], planted.encode())
    text = archive_view.model_card_text({"run_id": live}, store)
    assert text == f"The stored model card of {live} is malformed: not shown."


def test_an_archived_dataset_that_is_not_its_sha256_is_no_drift_reference(store, tmp_path) -> None:
    live = _live(store)
    sha = json.loads(store.read_bytes(registry.metrics_key(live)))["dataset"]["sha256"]
    store.write_bytes(registry.dataset_key(sha), b"a,b\n1,2\n")
    result = call_step(
        "validate", "--path", str(DATASET), "--reports", str(tmp_path), PIPELINE_STORE=store.uri
    )
    assert result.returncode == 0, result.stderr
    assert "does not match its sha256; no drift reference" in result.stderr
    assert json.loads((tmp_path / "validation.json").read_text())["drift"] is None


def test_a_model_file_with_malformed_bins_is_refused_in_one_line(store, tmp_path) -> None:
    import hashlib
    import pickle

    from heartml.store.model_file import ModelFile

    payload = ModelFile.read(store.read_bytes(registry.LATEST_MODEL_KEY), "x").to_payload()
    payload["metadata"]["monitoring_bins"] = "x"
    data = pickle.dumps(payload)
    store.write_bytes(registry.LATEST_MODEL_KEY, data)
    pointer = json.loads(store.read_bytes(registry.LATEST_POINTER_KEY))
    pointer["model_sha256"] = hashlib.sha256(data).hexdigest()
    store.write_bytes(registry.LATEST_POINTER_KEY, json.dumps(pointer).encode())
    sink = _sink_of_one_window(tmp_path, _live(store))
    result = call_step(
        "monitor", "--from", sink, "--report-dir", str(tmp_path / "r"), PIPELINE_STORE=store.uri
    )
    assert result.returncode == 1
    assert "monitoring_bins is not an object" in result.stderr
    assert "Traceback" not in result.stderr


def _sink_of_one_window(tmp_path, run_id: str) -> str:
    window = {
        "format": "heartml-monitoring/2", "run_id": run_id, "instance": "i-1",
        "start": "2026-11-28T08:00:00Z", "end": "2026-11-28T08:05:00Z", "requests": 3,
        "records": 3, "count_only": True, "errors": {},
    }  # fmt: skip
    sink = open_store(tmp_path / "one-window")
    traffic_windows.collect(
        [json.dumps({"logger": "heartml.monitoring", "monitoring": window})], sink
    )
    return sink.uri
