"""Seed a store with a history of versions (metrics and latest.json only, no models), and a
monitoring store with traffic windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from heartml.features import CONTRACT, FEATURES, LABEL_CODING
from heartml.ops import traffic_windows
from heartml.serving import traffic_bins, traffic_monitor
from heartml.store import registry
from heartml.store.backends import Store
from heartml.store.model_file import metrics_json


def seed_history(
    store: Store, count: int, *, live_index: int | None = -1, pre_fix: int = 0
) -> list[str]:
    """Write ``count`` versions a day apart; every seventh is held back; return run ids.

    The first ``pre_fix`` carry no label coding, as versions trained before it was recorded.
    """
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    run_ids = []
    for i in range(count):
        run_id = f"{1000 + i}-1"
        passed = i % 7 != 3
        metrics = {
            "run_id": run_id,
            "timestamp": (start + timedelta(days=i)).isoformat().replace("+00:00", "Z"),
            "acc": 0.87 + (i % 5) / 1000,
            "val_acc": 0.85 + (i % 3) / 100,
            "roc_auc": 0.90 + (i % 4) / 200,
            "elapsed": 0.02 + (i % 6) / 1000,
            "dataset": {"rows": 303 + i, "sha256": f"{i:064x}"},
            "model_sha256": f"{i:064x}",
            "gate": {
                "passed": passed,
                "reasons": [] if passed else [f"roc_auc {0.9 + (i % 4) / 200:.4f} is below live's"],
                "champion": {"run_id": run_ids[-1]} if run_ids else None,
                "candidate": {"intervals": {"roc_auc": [0.85 + (i % 4) / 200, 0.95]}},
            },
            "data_checks": {
                "drifted": ["age"] if i % 11 == 5 else [],
                "drift_reference": run_ids[-1] if run_ids else None,
            },
            "git_commit": f"{i:040x}",
            "params": {"C": 1.0, "max_iter": 1000, "seed": 42, "test_size": 0.2},
            "versions": {"python": "3.11.7", "scikit-learn": "1.9.1" if i % 2 else "1.9.0"},
        }
        if i >= pre_fix:
            metrics["label_coding"] = LABEL_CODING
        store.write_bytes(registry.metrics_key(run_id), metrics_json(metrics))
        run_ids.append(run_id)
    if count and live_index is not None:
        live = run_ids[live_index]
        pointer = {"run_id": live, "promoted_at": "2026-11-27T08:00:00Z", "reason": "trained"}
        store.write_bytes(registry.LATEST_POINTER_KEY, json.dumps(pointer).encode())
    return run_ids


def seed_traffic(
    sink: Store,
    model: Any,
    days: dict[str, list[dict[str, Any]]],
    run_id: str | None = None,
    min_records: int = 1,
) -> None:
    """One window per day of these records, counted by the function's own Monitor.

    The windows are collected into ``sink`` as Cloud Logging's sink writes them, so the
    dashboard reads them through the same reader as the bucket's. A day of fewer than
    ``min_records`` records is a count-only window, as an instance stopped early writes.
    """
    bins = traffic_bins.bins_of(model.metadata, model.contract.names)
    lines = []
    for day, records in days.items():
        monitor = traffic_monitor.Monitor(
            run_id or model.run_id, bins, every_requests=10**9, every_seconds=1e9,
            min_records=min_records,
            emit=lambda window: None, contract=CONTRACT,
        )  # fmt: skip
        rows = [[record.get(name) for name in FEATURES] for record in records]
        monitor.record(200, 0.002, records=rows, probabilities=model.probabilities(rows))
        window = monitor.flush("shutdown")
        window["start"], window["end"] = f"{day}T08:00:00Z", f"{day}T08:05:00Z"
        lines.append(json.dumps({"logger": "heartml.monitoring", "monitoring": window}))
    traffic_windows.collect(lines, sink)
