"""Reading traffic windows back: the sink's layout, duplicates, bad files, other versions."""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from heartml.features import CONTRACT, FEATURES
from heartml.ops import traffic_windows
from heartml.serving import traffic_monitor
from heartml.store.backends import open_store
from heartml.views import traffic_view
from tests.helpers import DelegatingStore, call_step


def _line(run_id: str, start: str, end: str, records: int, chol: dict) -> str:
    window = {
        "format": traffic_monitor.FORMAT, "run_id": run_id, "instance": f"i-{start}", "start": start,
        "end": end, "reason": "due", "requests": records, "records": records,
        "errors": {"4xx": {}, "5xx": {}}, "probability": [records] + [0] * 9,
        "features": {name: {} for name in FEATURES} | {"chol": chol},
    }  # fmt: skip
    return json.dumps({"logger": "heartml.monitoring", "monitoring": window})


def test_the_layout_is_cloud_loggings() -> None:
    hour = datetime(2015, 1, 13, 8, tzinfo=UTC)
    key = traffic_windows.sink_key(hour, 1, "syslog")
    assert key == "syslog/2015/01/13/08:00:00_08:59:59_S1.json"  # the documented example
    assert traffic_windows.hour_of(key) == hour
    assert traffic_windows.hour_of("run.googleapis.com/stdout/2015/01/13/08:00:00_08:59:59_A0.json")
    assert traffic_windows.hour_of("syslog/2015/01/13/notes.txt") is None


def test_bad_days_are_named_skipped_or_kept_apart(tmp_path) -> None:
    store = open_store(tmp_path / "sink")
    lines = [
        _line("v2", "2026-11-28T08:10:00Z", "2026-11-28T08:20:00Z", 40, {"q1": 40}),
        # Clock skew: an instance whose end is before another's start merges all the same.
        _line("v2", "2026-11-28T08:25:00Z", "2026-11-28T08:05:00Z", 10, {"q1": 4, "q9": 6}),
        _line("v1", "2026-11-28T09:00:00Z", "2026-11-28T09:30:00Z", 7, {"q0": 7}),
        "not json at all",
        json.dumps({"logger": "main.requests", "message": "POST 200"}),
    ]
    assert (
        traffic_windows.collect(lines + lines[:1], store) == 4
    )  # the repeated line is one entry twice
    store.write_bytes(
        traffic_windows.sink_key(datetime(2026, 11, 28, 10, tzinfo=UTC)), b"{broken\n"
    )
    store.write_bytes("notes/readme.txt", b"not the sink's")
    hostile = json.loads(_line("v3", "2026-11-28T11:00:00Z", "2026-11-28T11:10:00Z", 5, {}))
    hostile["monitoring"]["run_id"] = "x\n::error::y"
    eleven = datetime(2026, 11, 28, 11, tzinfo=UTC)
    entry = {"insertId": "h1", "jsonPayload": hostile}
    store.write_bytes(traffic_windows.sink_key(eleven), json.dumps(entry).encode() + b"\n")
    windows, problems = traffic_windows.read_windows(store)
    assert problems == [
        f"{store.url(traffic_windows.sink_key(datetime(2026, 11, 28, 10, tzinfo=UTC)))} "
        "is not JSON lines: skipped",
        f"{store.url(traffic_windows.sink_key(eleven))} holds a malformed window (run_id): skipped",
    ]
    merged = traffic_windows.merge(windows)
    assert set(merged) == {"v1", "v2"}  # another version's traffic is never mixed in
    assert merged["v2"]["records"] == 50 and merged["v2"]["windows"] == 2
    assert merged["v2"]["features"]["chol"] == {"q1": 44, "q9": 6}
    assert merged["v2"]["first"] == "2026-11-28T08:10:00Z"
    later, _ = traffic_windows.read_windows(store, since=datetime(2026, 11, 28, 9, tzinfo=UTC))
    assert [w["run_id"] for w in later] == ["v1"]  # 10:00 is broken, 11:00 malformed


def test_shown_counts_hide_small_bins_and_psi_sees_a_shift() -> None:
    assert traffic_windows.shown_counts({"q0": 3, "q1": 12}, 10) == {"q0": "<10", "q1": 12}
    same = {"q0": 50, "q1": 50}
    assert traffic_windows.psi(same, same) == pytest.approx(0.0)
    assert traffic_windows.psi({"q0": 90, "q1": 10}, same) > 0.2


def test_no_windows_yet_is_a_clear_message(tmp_path) -> None:
    result = call_step("monitor", MONITOR_STORE=str(tmp_path / "empty"))
    assert result.returncode == 1
    assert "holds no traffic windows yet" in result.stderr
    assert "first may take 2-3 hours" in result.stderr


def test_a_window_whose_times_are_not_times_is_malformed() -> None:
    window = json.loads(_line("v1", "2026-11-28T08:00:00Z", "2026-11-28T08:05:00Z", 3, {}))
    window = window["monitoring"]
    assert traffic_windows.well_formed(window)
    for bad in ("yesterday", "2026-11-28T08:00:00", "2026-11-28T08:00:00Z" + " " * 30, 17):
        assert not traffic_windows.well_formed(window | {"end": bad}), bad


def test_a_share_that_would_single_out_a_few_patients_is_hidden() -> None:
    assert traffic_view.shown_share(30, 100, 10) == 0.3
    assert traffic_view.shown_share(0, 100, 10) == 0.0  # nobody is no one singled out
    assert traffic_view.shown_share(100, 100, 10) == 1.0
    assert traffic_view.shown_share(3, 100, 10) is None  # three patients
    assert traffic_view.shown_share(97, 100, 10) is None  # and so the three not counted
    assert traffic_view.shown_share(5, 9, 10) is None  # too few behind the share at all


def test_days_are_rows_per_version_and_a_small_day_shows_counts_only() -> None:
    lines = [
        _line("v1", "2026-11-27T08:00:00Z", "2026-11-27T08:05:00Z", 40, {"q1": 40}),
        _line(
            "v1", "2026-11-27T09:00:00Z", "2026-11-27T09:05:00Z", 60, {traffic_monitor.IMPUTED: 60}
        ),
        _line("v1", "2026-11-28T08:00:00Z", "2026-11-28T08:05:00Z", 4, {"q1": 4}),
        _line("v2", "2026-11-28T09:00:00Z", "2026-11-28T09:05:00Z", 30, {"q2": 30}),
    ]
    windows = [json.loads(line)["monitoring"] for line in lines]
    for window in windows:  # every other feature's values all in the training's one bin
        rest = {name: {"q1": window["records"]} for name in FEATURES if name != "chol"}
        window["features"] |= rest
    days = traffic_view.by_day(windows)
    # Days summed again give exactly what summing the windows does, instances included.
    assert traffic_view.by_version(days) == traffic_windows.merge(windows)
    assert traffic_windows.merge(windows)["v1"]["instances"] == 3
    # A bucket's window cannot pass for a sum: its "instance_ids" is no set, whatever it says.
    posing = windows[3] | {"instance_ids": ["a", "b"], "windows": "many"}
    assert traffic_windows.merge([posing])["v2"]["windows"] == 1
    assert sorted(days) == [("v1", "2026-11-27"), ("v1", "2026-11-28"), ("v2", "2026-11-28")]
    rows = traffic_view.day_rows(days, "v1", 10).set_index("day")
    assert rows.loc["2026-11-27", "records"] == 100 and rows.loc["2026-11-27", "instances"] == 2
    assert rows.loc["2026-11-27", "imputed"] == pytest.approx(60 / (100 * len(FEATURES)))
    assert rows.loc["2026-11-27", "answered heart disease"] == 0.0  # every answer in bin 0
    assert rows.loc["2026-11-28", "records"] == 4
    assert rows.loc["2026-11-28", ["imputed", "answered heart disease"]].isna().all()
    reference = {"training_counts": {name: {"q1": 50} for name in FEATURES}}
    psi = traffic_view.psi_rows(days, "v1", reference, min_records=50)
    assert set(psi["day"]) == {"2026-11-27"}  # the 4-record day is not judged
    chol = psi.set_index("feature").loc["chol", "psi"]
    assert chol > 0.2 and psi.set_index("feature").loc["age", "psi"] == 0.0
    assert traffic_view.psi_rows(days, "v1", None, min_records=50).empty


class WritesAtOnce(DelegatingStore):
    """A store whose writers all write at the same moment: what racing collectors do."""

    def __init__(self, inner, writers: int) -> None:
        super().__init__(inner)
        self.barrier = threading.Barrier(writers)

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=10)
        super().write_bytes(key, data, exclusive=exclusive)


def test_collectors_running_at_once_keep_every_window(store_uri) -> None:
    """Issue 25: each collector took the first free shard, so racing ones overwrote it."""
    store = WritesAtOnce(open_store(store_uri), writers=8)
    hour = "2026-12-07T08"
    batches = [
        [_line("v1", f"{hour}:{m:02d}:00Z", f"{hour}:{m:02d}:30Z", 1, {"q1": 1}) for m in range(20)]
        for _ in range(8)
    ]
    for c, batch in enumerate(batches):  # each window its own instance: 160 distinct windows
        batches[c] = [line.replace('"instance": "i-', f'"instance": "c{c}-') for line in batch]
    with ThreadPoolExecutor(8) as pool:
        assert (
            list(pool.map(lambda batch: traffic_windows.collect(batch, store), batches)) == [20] * 8
        )
    windows, problems = traffic_windows.read_windows(open_store(store_uri))
    assert problems == [] and len(windows) == 160
    assert len(open_store(store_uri).list_keys(traffic_windows.LOG_ID)) == 8


def test_windows_of_the_first_format_are_read_as_before(tmp_path) -> None:
    """Windows stored before format 2: times to the second, no revision, any record count."""
    store = open_store(tmp_path / "sink")
    old = json.loads(_line("v1", "2026-11-28T08:10:07Z", "2026-11-28T08:20:41Z", 3, {"q1": 3}))
    old["monitoring"]["format"] = traffic_monitor.FORMAT_V1
    traffic_windows.collect([json.dumps(old)], store)
    [window], problems = traffic_windows.read_windows(store)
    assert problems == [] and window["format"] == traffic_monitor.FORMAT_V1
    merged = traffic_windows.merge([window])["v1"]
    assert merged["features"]["chol"] == {"q1": 3} and merged["held_records"] == 0
    assert merged["revisions"] == {traffic_monitor.LOCAL_REVISION}
    assert merged["first"] == "2026-11-28T08:10:07Z"


def test_a_count_only_window_is_counted_but_never_binned() -> None:
    whole = json.loads(_line("v1", "2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z", 40, {"q1": 40}))
    held = {
        "format": traffic_monitor.FORMAT, "run_id": "v1", "revision": "fn-00002-xyz",
        "instance": "b", "sequence": 1, "start": "2026-12-07T09:00:00Z",
        "end": "2026-12-07T09:00:00Z", "reason": "shutdown", "requests": 4, "records": 3,
        "errors": {"4xx": {"chol": 1}, "5xx": {}}, "count_only": True,
    }  # fmt: skip
    assert traffic_windows.well_formed(held) and traffic_windows.well_formed(whole["monitoring"])
    assert not traffic_windows.well_formed(held | {"revision": "x\n::error::y"})
    assert not traffic_windows.well_formed(held | {"errors": {"4xx": {"chol": -1}}})
    merged = traffic_windows.merge([whole["monitoring"], held])["v1"]
    assert (merged["records"], merged["held_records"], traffic_windows.binned_records(merged)) == (
        43,
        3,
        40,
    )
    assert merged["features"]["chol"] == {"q1": 40} and merged["errors"]["4xx"] == {"chol": 1}
    assert merged["revisions"] == {"fn-00002-xyz", traffic_monitor.LOCAL_REVISION}


def test_identical_windows_of_one_instance_are_two_entries(tmp_path) -> None:
    """Issue 25: the insert id hashed the line, so equal windows collapsed into one."""
    lines: list[str] = []
    record = [1.0] * len(FEATURES)
    monitor = traffic_monitor.Monitor(
        "v1", {}, every_requests=1, every_seconds=1e9, min_records=1,
        emit=lambda window: lines.append(traffic_monitor.log_line(window)), contract=CONTRACT,
    )  # fmt: skip
    for _ in range(3):
        monitor.record(200, 0.001, records=[record], probabilities=[0.4])
    store = open_store(tmp_path / "sink")
    assert traffic_windows.collect(lines + lines[:1], store) == 4  # a sink's repeat is still one
    windows, _ = traffic_windows.read_windows(store)
    assert [w["sequence"] for w in windows] == [1, 2, 3]
    assert traffic_windows.merge(windows)["v1"]["records"] == 3
