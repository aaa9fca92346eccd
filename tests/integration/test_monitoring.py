"""The served function's traffic windows: counts only, every N requests and at shutdown."""

from __future__ import annotations

import json

import requests

from heartml import registry
from heartml.artifacts import read_artifacts, read_json
from heartml.store import open_store
from tests.helpers import SAMPLE_RECORD, serve_function, stop_function

# Values no bin edge, default or message could produce: if one appears anywhere in the
# function's output, a patient's value was written out.
MARKERS = {"age": 71.3917, "chol": 287.4139, "trestbps": 137.2719, "thalach": 149.8317}


def _windows(text: str) -> list[dict]:
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [e["monitoring"] for e in entries if e.get("logger") == "heartml.monitoring"]


def test_windows_count_the_traffic_and_never_carry_a_value(trained_artifacts, tmp_path) -> None:
    store_uri = str(tmp_path / "store")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    served = serve_function(tmp_path, PIPELINE_STORE=store_uri, MONITOR_EVERY_REQUESTS="4")
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
    for value in MARKERS.values():
        assert str(value) not in text and f"{value:g}" not in text
