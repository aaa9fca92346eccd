"""Compare live traffic with the live model's training data: ``python -m steps.monitor``.

Reads the served function's traffic windows from the monitoring bucket (a Cloud Logging
sink's files, or a folder ``steps.collect_logs`` filled), merges them per served
version, and tests the live version's inputs and answers against its training rows on
the same bins. Writes ``monitoring/reports/<date>.json`` and ``.md`` and prints the
summary. Exits 0 whether or not anything drifted (the report says which); 1 when the
data cannot be read.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from heartml import config
from heartml.errors import ConfigError, ObjectNotFound
from heartml.ops import drift_action, traffic_windows
from heartml.serving import served_model, traffic_bins
from heartml.store.backends import open_store
from heartml.views.markdown import cell
from steps._cli import run

log = logging.getLogger("steps.monitor")


def parse_since(value: str | None) -> datetime | None:
    """A UTC date (2026-11-28) or time (2026-11-28T08:00); None for every window."""
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {value[:40]!r} is not a date or time (2026-11-28)") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def monitor_step(args: argparse.Namespace) -> dict[str, Any]:
    source = open_store(config.resolve(args, "MONITOR_STORE"))
    windows, problems = traffic_windows.read_windows(
        source, parse_since(config.resolve(args, "MONITOR_SINCE"))
    )
    for problem in problems:
        log.warning("%s", problem)
    if not windows:
        raise ConfigError(
            f"{source.uri} holds no traffic windows yet: the sink writes hourly batches and the "
            "first may take 2-3 hours; locally, collect the function's output with "
            "steps.collect_logs"
        )
    model_store = open_store(config.store_uri(args.store))
    try:
        model = served_model.load_from_store(model_store)
    except ObjectNotFound:
        raise ConfigError("no live model to compare the traffic with: run the pipeline") from None
    reference = traffic_bins.reference(
        traffic_bins.bins_of(model.metadata), model.metadata.get("monitoring_answers")
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
            psi_threshold=config.resolve(args, "MONITOR_PSI_THRESHOLD"),
            p_threshold=config.resolve(args, "MONITOR_P_VALUE"),
            min_records=config.resolve(args, "MONITOR_MIN_RECORDS"),
            min_count=config.resolve(args, "MONITOR_MIN_BIN_COUNT"),
        ),
    }
    live_report = report["live"]
    if live_report and live_report["drifted"]:
        report["actions"] = drift_action.act_on_drift(
            live_report,
            model_store,
            model.metadata.get("dataset_sha256"),
            dispatch=bool(config.resolve(args, "MONITOR_DISPATCH")),
            cooldown_hours=config.get("MONITOR_COOLDOWN_HOURS"),
        )
        for action in report["actions"]:
            log.info("%s", action)
    out: Path = config.resolve(args, "MONITOR_REPORTS")
    out.mkdir(parents=True, exist_ok=True)
    day = report["generated"][:10]
    (out / f"{day}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{day}.md").write_text(render(report) + "\n")
    print(summary(report))
    return report


def summary(report: dict[str, Any]) -> str:
    live = report["live"]
    if live is None:
        return f"no traffic for the live version {report['live_run_id']} in these windows"
    if not live["judged"]:
        binned = live["records"] - live["held_records"]
        return f"{binned} records counted per bin for {live['run_id']}: too few to judge drift"
    if not live["drifted"]:
        return (
            f"no drift: {live['records']} records for {live['run_id']} look like its training data"
        )
    return f"drift in {', '.join(live['drifted'])}: {live['records']} records for {live['run_id']}"


def render(report: dict[str, Any]) -> str:
    """The report as Markdown; what came from the bucket goes through ``heartml.views.markdown``."""
    live = report["live"]
    lines = [
        f"# Live traffic against training, {cell(report['generated'])}",
        "",
        cell(summary(report), 400),
        "",
    ]
    if live:
        share = live["positive_share"]
        trained = live["training_positive_share"]
        lines += [
            f"{live['requests']} requests, {live['records']} records, {live['windows']} windows "
            f"from {live['instances']} instances of {len(live['revisions'])} revision(s), "
            f"{cell(live['first'])} to {cell(live['last'])}."
            + (
                f" {live['held_records']} of the records came in count-only windows (an "
                "instance stopped before k records) and are not binned."
                if live["held_records"]
                else ""
            ),
            "",
            f"Answered heart disease (P ≥ 0.5): "
            f"{'—' if share is None else f'{share:.1%}'} live, "
            f"{'—' if trained is None else f'{trained:.1%}'} on the training rows.",
            "",
            "| feature | PSI | chi-squared p | drifted |",
            "| --- | --- | --- | --- |",
        ]
        for name, f in live["features"].items():
            p = "—" if f["p_value"] is None else f"{f['p_value']:.2g}"
            lines.append(
                f"| {cell(name)} | {f['psi']:.3f} | {p} | {'yes' if f['drifted'] else ''} |"
            )
    lines += [f"- {cell(problem, 400)}" for problem in report["problems"]]
    lines += [f"- {cell(action, 400)}" for action in report.get("actions", [])]
    for run_id, other in report["other_versions"].items():
        lines.append(
            f"- {other['records']} records served by {cell(run_id)}: kept apart, not compared"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    for name in (
        "MONITOR_STORE", "MONITOR_REPORTS", "MONITOR_SINCE", "MONITOR_PSI_THRESHOLD",
        "MONITOR_P_VALUE", "MONITOR_MIN_RECORDS", "MONITOR_MIN_BIN_COUNT", "MONITOR_DISPATCH",
    ):  # fmt: skip
        config.add_flag(parser, name)
    args = parser.parse_args(argv)
    return run("monitor", lambda: monitor_step(args))


if __name__ == "__main__":
    raise SystemExit(main())
