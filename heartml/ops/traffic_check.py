"""The monitor's day: the live version's traffic windows tested against its training rows.

``check`` reads the windows the function logged (a Cloud Logging sink's files, or a
folder ``steps.collect_logs`` filled), merges them per served version, compares the
live version's inputs and answers with its training rows on the same bins, and acts on
drift (``drift_action``). It returns the report as data; ``views.traffic_report``
renders it for people.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from heartml import config
from heartml.errors import ConfigError, ObjectNotFound
from heartml.ops import drift_action, traffic_windows
from heartml.serving import served_model, traffic_bins
from heartml.store.backends import Store, open_store

# The step's name: the monitor's log lines read as they did when this was its own code.
log = logging.getLogger("steps.monitor")


@dataclass(frozen=True)
class Thresholds(config.SettingsGroup):
    """When traffic counts as drifted (the MONITOR_* settings).

    A feature drifts when its PSI reaches ``psi`` and the chi-squared test agrees (p below
    ``p_value``); fewer than ``min_records`` binned records are not judged, and a bin with
    fewer than ``min_bin_count`` records is shown as "<k", not as its count.
    """

    psi: float = config.setting("MONITOR_PSI_THRESHOLD")
    p_value: float = config.setting("MONITOR_P_VALUE")
    min_records: int = config.setting("MONITOR_MIN_RECORDS")
    min_bin_count: int = config.setting("MONITOR_MIN_BIN_COUNT")


def parse_since(value: str | None) -> datetime | None:
    """A UTC date (2026-11-28) or time (2026-11-28T08:00); None for every window."""
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {value[:40]!r} is not a date or time (2026-11-28)") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def check(
    source: Store,
    model_store_uri: str,
    since: datetime | None,
    thresholds: Thresholds,
    *,
    dispatch: bool,
    cooldown_hours: float,
) -> dict[str, Any]:
    """Build the monitor's report; ConfigError when there is nothing to compare."""
    windows, problems = traffic_windows.read_windows(source, since)
    for problem in problems:
        log.warning("%s", problem)
    if not windows:
        raise ConfigError(
            f"{source.uri} holds no traffic windows yet: the sink writes hourly batches and the "
            "first may take 2-3 hours; locally, collect the function's output with "
            "steps.collect_logs"
        )
    model_store = open_store(model_store_uri)
    try:
        model = served_model.load_from_store(model_store)
    except ObjectNotFound:
        raise ConfigError("no live model to compare the traffic with: run the pipeline") from None
    reference = traffic_bins.reference(
        traffic_bins.bins_of(model.metadata, model.contract.names),
        model.metadata.get("monitoring_answers"),
    )
    merged = traffic_windows.merge(windows)
    live = merged.get(str(model.run_id))
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "live_run_id": model.run_id,
        "problems": problems,
        "other_versions": {
            run_id: {"windows": m["windows"], "records": m["records"]}
            for run_id, m in merged.items()
            if run_id != str(model.run_id)
        },
        "live": None
        if live is None
        else traffic_windows.compare(
            live,
            reference,
            psi_threshold=thresholds.psi,
            p_threshold=thresholds.p_value,
            min_records=thresholds.min_records,
            min_count=thresholds.min_bin_count,
        ),
    }
    live_report = report["live"]
    if live_report and live_report["drifted"]:
        report["actions"] = drift_action.act_on_drift(
            live_report,
            model_store,
            model.metadata.get("dataset_sha256"),
            dispatch=dispatch,
            cooldown_hours=cooldown_hours,
        )
        for action in report["actions"]:
            log.info("%s", action)
    return report
