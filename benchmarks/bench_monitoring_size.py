"""How much monitoring data a day of traffic makes, in the sink's layout.

A model is trained on the shipped dataset; one instance answers 300 ordinary records one
request at a time, as 1 request/s does in the 300 s of ``MONITOR_EVERY_SECONDS``; its
window is written as the function writes it and stored as a sink entry by
``traffic.collect``. A day at 1 request/s is 288 such windows.

Reproduce: ``.venv/bin/python benchmarks/bench_monitoring_size.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from heartml import config
from heartml.features import FEATURES
from heartml.serving import (
    served_model,
    traffic_bins,
    traffic_monitor,
    traffic_windows,
)
from heartml.store.backends import open_store
from tests.cases import traffic_records


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = Path(tmp) / "artifacts"
        subprocess.run(
            [sys.executable, "-m", "steps.train", "--path", str(REPO / "datasets/default.csv"),
             "--out", str(artifacts)],
            cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        model = served_model.load_trained(artifacts)
        windows: list[dict] = []
        monitor = traffic_monitor.Monitor(
            model.run_id, traffic_bins.bins_of(model.metadata, model.contract.names),
            every_requests=10**9, every_seconds=1e9,
            min_records=config.get("MONITOR_MIN_BIN_COUNT"),
            emit=windows.append, contract=model.contract,
        )  # fmt: skip
        for record in traffic_records(False, seed=3):
            row = [record.get(name) for name in FEATURES]
            monitor.record(200, 0.002, records=[row], probabilities=model.probabilities([row]))
        window = monitor.flush("due")
        line = traffic_monitor.log_line(window)
        sink = open_store(Path(tmp) / "sink")
        traffic_windows.collect([line], sink)
        [key] = sink.list_keys()
        entry = len(sink.read_bytes(key))
    per_day = 86_400 // 300 * entry
    print("monitoring data at 1 request/s, one instance, 300 ordinary records per window")
    print(f"  log line {len(line):,} bytes")
    print(f"  stored sink entry {entry:,} bytes")
    print(f"  a day: 288 windows, {per_day / 1e6:.2f} MB; 30 days {30 * per_day / 1e6:.1f} MB")
    print("reproduce: .venv/bin/python benchmarks/bench_monitoring_size.py")


if __name__ == "__main__":
    main()
