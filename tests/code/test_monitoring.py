"""The traffic monitor: counts per bin from the training rows, windows emitted on time."""

from __future__ import annotations

import json
import os
import re

import pytest

from heartml.data.dataset import read_dataset
from heartml.features import CONTRACT, FEATURES
from heartml.serving import traffic_bins, traffic_monitor
from tests.helpers import DATASET, SAMPLE_RECORD

RECORD = [float(SAMPLE_RECORD[name]) for name in FEATURES]


@pytest.fixture(scope="module")
def bins() -> dict:
    return traffic_bins.training_bins(read_dataset(DATASET)[list(FEATURES)].astype(float), CONTRACT)


class Clock:
    """A time source the test moves by hand: the window's T-second rule, without a sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _monitor(bins, every_requests=1000, every_seconds=300.0, clock=None, min_records=1):
    windows: list[dict] = []
    monitor = traffic_monitor.Monitor(
        "run-1", bins, every_requests=every_requests, every_seconds=every_seconds,
        min_records=min_records, emit=windows.append, clock=clock or Clock(), contract=CONTRACT,
    )  # fmt: skip
    return monitor, windows


def test_bins_come_from_the_training_rows(bins) -> None:
    assert bins["sex"] == {"codes": [0.0, 1.0], "training_counts": {"0": 96, "1": 207}}
    assert bins["ca"]["codes"] == [0.0, 1.0, 2.0, 3.0]  # 4 is "unknown": counted as imputed
    assert bins["ca"]["training_counts"]["imputed"] == 5
    assert 5 <= len(bins["chol"]["edges"]) <= 9
    assert bins["chol"]["min"] == 126.0 and bins["chol"]["max"] == 564.0
    assert traffic_bins.bin_names(bins["sex"]) == ["0", "1", "missing", "imputed", "out_of_range"]


def test_each_value_lands_in_its_bin(bins) -> None:
    monitor, windows = _monitor(bins)
    edges = bins["chol"]["edges"]
    rows = []
    for chol, ca, cp in ((edges[0] - 1, 0.0, 0.0), (edges[-1] + 1, 4.0, 3.0), (600.0, None, 2.0)):
        row = dict(zip(FEATURES, RECORD, strict=True)) | {"chol": chol, "ca": ca, "cp": cp}
        rows.append([row[name] for name in FEATURES])
    rows.append([None] * len(FEATURES))
    monitor.record(200, 0.004, records=rows, probabilities=[0.05, 0.55, 0.999, 1.0])
    window = monitor.flush("test")
    assert windows == [window]
    chol = window["features"]["chol"]
    last = f"q{len(edges)}"
    assert chol == {"q0": 1, last: 1, "out_of_range": 1, "missing": 1}  # 600 > training's 564
    assert window["features"]["ca"] == {"0": 1, "imputed": 1, "missing": 2}
    assert window["probability"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert window["records"] == 4 and window["requests"] == 1
    assert window["latency_ms"]["p50"] == 5


def test_a_window_is_emitted_every_n_requests_or_t_seconds(bins) -> None:
    clock = Clock()
    monitor, windows = _monitor(bins, every_requests=3, every_seconds=60, clock=clock)
    for _ in range(7):
        monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    assert [w["requests"] for w in windows] == [3, 3]
    clock.now = 61.0  # the seventh request's window is 61 s old at the eighth
    monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    assert [w["requests"] for w in windows] == [3, 3, 2]
    assert all(w["reason"] == "due" and w["run_id"] == "run-1" for w in windows)
    assert monitor.flush("shutdown") is None  # nothing new: no empty window


def test_errors_are_counted_by_field_and_a_callers_key_is_not_repeated(bins) -> None:
    monitor, _ = _monitor(bins)
    monitor.record(400, 0.001, "chol")
    monitor.record(400, 0.001, "Patient Jane Doe")  # an unknown key is the caller's text
    monitor.record(503, 0.001, "model")
    window = monitor.flush("test")
    assert window["errors"] == {"4xx": {"chol": 1, "other": 1}, "5xx": {"model": 1}}
    assert "Jane" not in str(window)


def test_a_version_without_training_bins_is_binned_over_its_range() -> None:
    ranges = {"chol": {"min": 100.0, "max": 200.0}, "sex": {"codes": [0.0, 1.0]}}
    bins = traffic_bins.bins_from_ranges(ranges, CONTRACT.names)
    assert bins["chol"]["edges"] == pytest.approx([110, 120, 130, 140, 150, 160, 170, 180, 190])
    assert bins["sex"] == {"codes": [0.0, 1.0]}
    assert bins["age"]["edges"] == []  # nothing known: one bin, never out of range


def test_latency_quantiles_read_the_histogram() -> None:
    counts = [0] * (len(traffic_monitor.LATENCY_EDGES_MS) + 1)
    counts[0], counts[3], counts[-1] = 50, 45, 5
    assert traffic_monitor.latency_quantiles(counts) == {"p50": 1, "p90": 10, "p99": None}


def test_training_counts_are_the_monitors_own_binning_of_the_training_rows(bins) -> None:
    """The reference is counted vectorised at training; the function counts row by row."""
    frame = read_dataset(DATASET)[list(FEATURES)].astype(float)
    frame.loc[frame.index[:7], "chol"] = None  # missing values are counted too
    bins = traffic_bins.training_bins(frame, CONTRACT)
    monitor, _ = _monitor(bins)
    rows = [[None if v != v else float(v) for v in row] for row in frame.to_numpy()]
    monitor.record(200, 0.001, records=rows, probabilities=[0.5] * len(rows))
    window = monitor.flush("test")
    for name in FEATURES:
        assert window["features"][name] == bins[name]["training_counts"], name


DESCRIBING = {"features", "probability", "latency_ms"}


def test_a_window_under_k_records_is_carried_until_it_holds_k(bins) -> None:
    """Issue 25: a due window of fewer than k records was written whole (a patient's record)."""
    monitor, windows = _monitor(bins, every_requests=2, min_records=5)
    for _ in range(4):
        monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    assert windows == []  # due twice over, but never with fewer than 5 records
    monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    assert [(w["requests"], w["records"]) for w in windows] == [(5, 5)]
    assert windows[0]["features"]["sex"] == {str(int(RECORD[FEATURES.index("sex")])): 5}


def test_a_shutdown_window_under_k_records_is_written_as_counts_only(bins) -> None:
    monitor, windows = _monitor(bins, min_records=10)
    monitor.record(200, 0.001, records=[RECORD], probabilities=[0.93])
    monitor.record(400, 0.001, "chol")
    window = monitor.flush("shutdown")
    assert windows == [window]
    assert window["count_only"] is True
    assert (window["requests"], window["records"]) == (2, 1)
    assert not DESCRIBING & window.keys()
    assert window["errors"] == {"4xx": {"chol": 1}, "5xx": {}}  # our field names, counted
    text = json.dumps(window)
    for value in SAMPLE_RECORD.values():  # no value the caller sent, in any form
        assert f": {float(value)}" not in text and f"[{float(value)}" not in text
    assert "0.93" not in text
    line = json.loads(traffic_monitor.log_line(window))
    assert "counts only" in line["message"] and line["monitoring"] == window


def test_a_window_names_its_revision_and_sequence_and_its_hours_only(bins, monkeypatch) -> None:
    monkeypatch.setenv("K_REVISION", "predict-00007-abc")
    monitor, windows = _monitor(bins, every_requests=1)
    for _ in range(2):
        monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    assert [w["sequence"] for w in windows] == [1, 2]
    assert {w["revision"] for w in windows} == {"predict-00007-abc"}
    for window in windows:
        for stamp in (window["start"], window["end"]):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", stamp), stamp
    monkeypatch.delenv("K_REVISION")
    assert _monitor(bins)[0].revision == traffic_monitor.LOCAL_REVISION


def test_a_forked_worker_is_a_new_instance_with_an_empty_window(bins) -> None:
    """main.py builds the monitor in gunicorn's master; the worker it forks serves."""
    monitor, _ = _monitor(bins)
    monitor.record(200, 0.001, records=[RECORD], probabilities=[0.2])
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: report what it starts from, and leave without cleanup
        window = monitor.flush("child")
        os.write(write, json.dumps([monitor.instance, window]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        instance, child_window = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert instance != monitor.instance
    assert child_window is None  # the master's request is not the worker's
    assert monitor.flush("parent")["requests"] == 1
