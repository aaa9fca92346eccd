"""The served function's traffic windows: counts only, every N requests and at shutdown."""

from __future__ import annotations

import json

import requests

from heartml.ops import drift_action, traffic_windows
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts, read_json
from tests.cases import traffic_records
from tests.helpers import DATASET, SAMPLE_RECORD, call_step, serve_function, stop_function

# Values no bin edge, default or message could produce: if one appears anywhere in the
# function's output, a patient's value was written out.
DISPATCH = "/repos/owner/repo/dispatches"
TOKEN = "ghp_monitor_token_that_must_never_be_logged"
MARKERS = {"age": 71.3917, "chol": 287.4139, "trestbps": 137.2719, "thalach": 149.8317}


def _windows(text: str) -> list[dict]:
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [e["monitoring"] for e in entries if e.get("logger") == "heartml.monitoring"]


def test_windows_count_the_traffic_and_never_carry_a_value(trained_artifacts, tmp_path) -> None:
    store_uri = str(tmp_path / "store")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    # k = 3: each window below holds at least three records, so both are written whole.
    served = serve_function(
        tmp_path, PIPELINE_STORE=store_uri, MONITOR_EVERY_REQUESTS="4", MONITOR_MIN_BIN_COUNT="3"
    )
    marked = {**SAMPLE_RECORD, **MARKERS}
    try:
        for _ in range(5):
            assert requests.post(served.url, json=marked, timeout=10).status_code == 200
        batch = {"instances": [marked, {**marked, "chol": None, "ca": 4}]}
        assert requests.post(served.url, json=batch, timeout=10).status_code == 200
        bad = {**marked, "cp": 7}
        assert requests.post(served.url, json=bad, timeout=10).status_code == 400
        assert requests.get(served.url, timeout=10).status_code == 200  # health: not counted
    finally:
        stop_function(served.process)  # SIGTERM: the last window is emitted on the way out
    text = served.log()
    windows = _windows(text)
    run_id = read_json(trained_artifacts / "metrics.json")["run_id"]
    assert [w["reason"] for w in windows] == ["due", "shutdown"]
    assert [w["requests"] for w in windows] == [4, 3]
    assert sum(w["records"] for w in windows) == 7
    assert all(w["run_id"] == run_id for w in windows)
    assert windows[1]["errors"] == {"4xx": {"cp": 1}, "5xx": {}}
    chol = {}
    for w in windows:
        for label, n in w["features"]["chol"].items():
            chol[label] = chol.get(label, 0) + n
    assert chol.pop("missing") == 1 and sum(chol.values()) == 6
    assert sum(sum(w["probability"]) for w in windows) == 7
    # Every stored object too: the windows collected into a sink, the monitor's reports
    # (judged on these few records so they carry every count) and what it printed.
    (tmp_path / "function.log").write_text(text)
    sink = tmp_path / "monitoring-store"
    collected = call_step("collect_logs", str(tmp_path / "function.log"), MONITOR_STORE=str(sink))
    assert collected.returncode == 0 and "collected 2 traffic window(s)" in collected.stderr
    monitor = call_step(
        "monitor", "--report-dir", str(tmp_path / "reports"), "--min-records", "1",
        "--min-count", "1", PIPELINE_STORE=store_uri, MONITOR_STORE=str(sink),
    )  # fmt: skip
    assert monitor.returncode == 0, monitor.stderr
    [sink_file] = [p for p in sink.rglob("*") if p.is_file()]
    assert traffic_windows.hour_of(sink_file.relative_to(sink).as_posix()) is not None
    reports = sorted((tmp_path / "reports").iterdir())
    assert [p.suffix for p in reports] == [".json", ".md"]
    assert json.loads(reports[0].read_text())["live"]["features"]["chol"]["live"]  # the counts
    written = [text, monitor.stdout, monitor.stderr] + [
        p.read_text() for p in (sink_file, *reports)
    ]
    for value in MARKERS.values():
        for each in written:
            assert str(value) not in each and f"{value:g}" not in each


def test_the_monitor_flags_shifted_traffic_and_not_ordinary_traffic(
    trained_artifacts, tmp_path, gcs_emulator, httpserver
) -> None:
    model_store = str(tmp_path / "store")
    registry.publish(open_store(model_store), *read_artifacts(trained_artifacts))
    # New data has landed since the live model was trained: retraining could help.
    open_store(model_store).write_bytes("dataset.csv", DATASET.read_bytes()[:-40])
    httpserver.expect_request("/slack/T0/secret-path", method="POST").respond_with_data("ok")
    httpserver.expect_request(DISPATCH, method="POST").respond_with_data("", status=204)
    downstream = {
        "SLACK_WEBHOOK_URL": httpserver.url_for("/slack/T0/secret-path"),
        "GITHUB_API_URL": httpserver.url_for("/").rstrip("/"),
        "GITHUB_REPOSITORY": "owner/repo",
        "GITHUB_TOKEN": TOKEN,
        "MONITOR_DISPATCH": "true",
    }
    served = serve_function(tmp_path, PIPELINE_STORE=model_store, MONITOR_EVERY_REQUESTS="30")
    try:  # 30 requests of 10 records each: one window of each kind of traffic
        for records in (traffic_records(False, seed=21), traffic_records(True, seed=22)):
            for i in range(0, 300, 10):
                answer = requests.post(
                    served.url, json={"instances": records[i : i + 10]}, timeout=10
                )
                assert answer.status_code == 200, answer.text
    finally:
        stop_function(served.process)
    lines = [line for line in served.log().splitlines() if '"heartml.monitoring"' in line]
    assert len(lines) == 2
    reports, actions = {}, {}
    # Ordinary traffic through a local folder, shifted traffic through the GCS emulator:
    # the same sink layout and the same reader for both.
    for name, line, sink in (
        ("ordinary", lines[0], str(tmp_path / "monitoring-store")),
        ("shifted", lines[1], f"gs://heartml-test/monitoring-{tmp_path.name}"),
    ):
        log_file = tmp_path / f"{name}.log"
        log_file.write_text(line + "\n" + line + "\n")  # a sink may write an entry twice
        assert call_step("collect_logs", str(log_file), MONITOR_STORE=sink).returncode == 0
        keys = open_store(sink).list_keys()
        assert len(keys) == 1 and traffic_windows.hour_of(keys[0]) is not None, keys
        out = tmp_path / f"reports-{name}"
        for _ in range(2):  # the hourly monitor sees the same drift twice: one action
            result = call_step(
                "monitor", "--report-dir", str(out), PIPELINE_STORE=model_store,
                MONITOR_STORE=sink, **downstream,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            # Our lines only: the stand-in's own access log (werkzeug) prints its paths.
            ours = [line for line in result.stderr.splitlines() if "werkzeug" not in line]
            assert not [line for line in ours if TOKEN in line or "secret-path" in line]
        (report_file,) = out.glob("*.json")
        reports[name] = json.loads(report_file.read_text())["live"]
        actions[name] = json.loads(report_file.read_text()).get("actions")
    assert reports["ordinary"]["records"] == reports["shifted"]["records"] == 300
    assert reports["ordinary"]["drifted"] == []
    assert set(reports["shifted"]["drifted"]) == {"age", "chol"}
    for name in ("age", "chol"):
        assert reports["shifted"]["features"][name]["psi"] > 0.2
        assert reports["ordinary"]["features"][name]["psi"] < 0.2
    # The Slack and GitHub stand-ins got the alert and the dispatch once, not per run.
    paths = [request.path for request, _ in httpserver.log]
    assert paths == ["/slack/T0/secret-path", DISPATCH]
    alert = json.loads(httpserver.log[0][0].data)["text"]
    assert "age (PSI" in alert and "chol (PSI" in alert
    assert json.loads(httpserver.log[1][0].data)["event_type"] == "dataset-updated"
    assert actions["ordinary"] is None
    assert actions["shifted"][0].startswith("already acted on drift")  # the second run's


def test_no_retraining_when_the_data_has_not_changed(
    trained_artifacts, tmp_path, httpserver
) -> None:
    """Traffic has no labels: the same dataset.csv would rebuild the same model."""
    store = open_store(tmp_path / "store")
    registry.publish(store, *read_artifacts(trained_artifacts), DATASET.read_bytes())
    store.write_bytes("dataset.csv", DATASET.read_bytes())
    live = {"run_id": "fixture-run", "records": 300, "drifted": ["age"],
            "features": {"age": {"psi": 1.5}}}  # fmt: skip
    sha = read_json(trained_artifacts / "metrics.json")["dataset"]["sha256"]
    done = drift_action.act_on_drift(live, store, sha, dispatch=True, cooldown_hours=24)
    assert done[0] == "no alert: SLACK_WEBHOOK_URL is not set"
    assert done[1].startswith("no retraining: dataset.csv is unchanged")
    assert not httpserver.log
