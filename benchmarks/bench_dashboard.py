"""Time the dashboard's render with 0, 1 and 500 versions (Streamlit's AppTest, local store),
and with 30 days of live traffic behind the Live traffic tab.

Reproduce: ``.venv/bin/python benchmarks/bench_dashboard.py``. A cold render reads every
metrics file and every sink file; a warm one (the next rerun, nothing new) hits the cache
and lists only. The traffic is 1 request/s for 30 days over 2 instances, each emitting a
window every 5 minutes (MONITOR_EVERY_SECONDS' default): 17,280 windows (about 1.6 kB
each as a sink stores it) in 720 hourly files.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import streamlit as st
from streamlit.testing.v1 import AppTest

from heartml.features import FEATURES
from heartml.serving import (
    traffic_monitor,
    traffic_windows,
)
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.store.model_file import metrics_json
from tests.dashboard.seed import seed_history

LABELS = [f"q{i}" for i in range(10)]


def seed_month_of_traffic(store: Store, sink: Store, run_id: str) -> int:
    """30 days of windows for ``run_id`` and its training counts; return how many windows."""
    rng = random.Random(7)
    metrics = json.loads(store.read_bytes(registry.metrics_key(run_id)))
    metrics["monitoring_reference"] = {
        "training_counts": {name: dict.fromkeys(LABELS, 30) for name in FEATURES},
        "answers": {"positive_share": 0.46},
    }
    store.write_bytes(registry.metrics_key(run_id), metrics_json(metrics))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
    lines = []
    for instance in ("i-a", "i-b"):
        for n in range(30 * 288):  # a window per 5 minutes, 150 requests of 1 record each
            began = start + timedelta(minutes=5 * n)
            spread = [rng.randint(10, 20) for _ in LABELS]
            window = {
                "format": traffic_monitor.FORMAT, "run_id": run_id, "revision": "fn-00001-abc",
                "instance": instance, "sequence": n + 1, "start": f"{began:%Y-%m-%dT%H:00:00Z}",
                "end": f"{began + timedelta(minutes=5):%Y-%m-%dT%H:00:00Z}", "reason": "due",
                "requests": sum(spread), "records": sum(spread),
                "errors": {"4xx": {}, "5xx": {}}, "probability": spread,
                "features": {name: dict(zip(LABELS, spread, strict=True)) for name in FEATURES},
            }  # fmt: skip
            lines.append(json.dumps({"logger": "heartml.monitoring", "monitoring": window}))
    return traffic_windows.collect(lines, sink)


def main() -> None:
    print("dashboard render (AppTest, local-folder store), medians of 5")
    for count in (0, 1, 500, "30 + traffic"):
        with tempfile.TemporaryDirectory() as tmp:
            store, sink = open_store(Path(tmp) / "store"), open_store(Path(tmp) / "sink")
            run_ids = seed_history(store, 30 if count == "30 + traffic" else count)
            if count == "30 + traffic":
                windows = seed_month_of_traffic(store, sink, run_ids[-1])
                files = len(sink.list_keys())
                count = f"30 versions, {windows:,} windows in {files} files:"
            os.environ["PIPELINE_STORE"] = str(Path(tmp) / "store")
            os.environ["MONITOR_STORE"] = str(Path(tmp) / "sink")
            cold, warm = [], []
            for _ in range(5):
                app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
                st.cache_data.clear()  # the cache outlives AppTest instances in one process
                started = time.perf_counter()
                app.run()
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                app.run()
                warm.append(time.perf_counter() - started)
                assert not app.exception, app.exception
        label = count if isinstance(count, str) else f"{count:>3} versions:"
        print(
            f"  {label} cold {statistics.median(cold) * 1000:7.0f} ms, "
            f"warm {statistics.median(warm) * 1000:6.0f} ms"
        )
    print("reproduce: .venv/bin/python benchmarks/bench_dashboard.py")


if __name__ == "__main__":
    main()
