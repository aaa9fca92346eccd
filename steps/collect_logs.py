"""Collect a served function's traffic windows as a sink would: ``python -m steps.collect_logs``.

Reads the function's stdout (a file, or ``-`` for standard input) and writes its window
lines to the monitoring store in Cloud Logging's sink layout, so ``steps.monitor``
reads a laptop's traffic exactly as it reads the bucket a sink fills.
"""

from __future__ import annotations

import argparse
import logging
import sys

from heartml import config
from heartml.ops import traffic_windows
from heartml.store.backends import open_store
from steps._cli import run

log = logging.getLogger("steps.collect_logs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log", help="the function's output, or - for standard input")
    config.add_flag(parser, "MONITOR_STORE")
    args = parser.parse_args(argv)

    def body() -> None:
        store = open_store(config.resolve(args, "MONITOR_STORE"))
        handle = sys.stdin if args.log == "-" else open(args.log, encoding="utf-8")  # noqa: SIM115
        with handle:
            count = traffic_windows.collect(handle, store)
        log.info("collected %d traffic window(s) into %s", count, store.uri)

    return run("collect_logs", body)


if __name__ == "__main__":
    raise SystemExit(main())
