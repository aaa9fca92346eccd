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
from pathlib import Path

from heartml import config
from heartml.ops import traffic_check
from heartml.store.backends import open_store
from heartml.views import traffic_report
from steps._cli import run

SETTINGS = (
    "MONITOR_STORE", "MONITOR_REPORTS", "MONITOR_SINCE", "MONITOR_PSI_THRESHOLD",
    "MONITOR_P_VALUE", "MONITOR_MIN_RECORDS", "MONITOR_MIN_BIN_COUNT", "MONITOR_DISPATCH",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (config.STORE_ENV, *SETTINGS):
        config.add_flag(parser, name)
    args = parser.parse_args(argv)

    def body() -> None:
        report = traffic_check.check(
            open_store(config.resolve(args, "MONITOR_STORE")),
            config.store_uri(args.store),
            traffic_check.parse_since(config.resolve(args, "MONITOR_SINCE")),
            traffic_check.Thresholds.from_settings(args),
            dispatch=bool(config.resolve(args, "MONITOR_DISPATCH")),
            cooldown_hours=config.get("MONITOR_COOLDOWN_HOURS"),
        )
        out: Path = config.resolve(args, "MONITOR_REPORTS")
        out.mkdir(parents=True, exist_ok=True)
        day = report["generated"][:10]
        (out / f"{day}.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / f"{day}.md").write_text(traffic_report.render(report) + "\n")
        print(traffic_report.summary(report))

    return run("monitor", body)


if __name__ == "__main__":
    raise SystemExit(main())
