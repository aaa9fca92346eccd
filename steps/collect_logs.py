"""Collect a served function's traffic windows as a sink would: ``python -m steps.collect_logs``.

Reads the function's stdout (a file, or ``-`` for standard input) and writes its window
lines to the monitoring store in Cloud Logging's sink layout, so ``steps.monitor``
reads a laptop's traffic exactly as it reads the bucket a sink fills.

With ``--follow`` (how ``make serve`` runs it, at the end of a pipe from the function)
it passes every line on to its own stdout and stores each window the moment it arrives.
It ignores Ctrl-C and SIGTERM, which reach the whole pipe, and stops when the function
has exited and closed the pipe: the window the function emits on its way out is kept.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import TextIO

from heartml import config, traffic
from heartml.store import Store, open_store
from steps._cli import run

log = logging.getLogger("steps.collect_logs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log", help="the function's output, or - for standard input")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="pass every line on to stdout and store each window as it arrives",
    )
    config.add_flag(parser, "MONITOR_STORE")
    args = parser.parse_args(argv)

    def body() -> None:
        store = open_store(config.resolve(args, "MONITOR_STORE"), timeout=config.store_timeout())
        handle = sys.stdin if args.log == "-" else open(args.log, encoding="utf-8")  # noqa: SIM115
        with handle:
            count = follow(handle, store) if args.follow else traffic.collect(handle, store)
        log.info("collected %d traffic window(s) into %s", count, store.uri)

    return run("collect_logs", body)


def follow(handle: TextIO, store: Store) -> int:
    """Pass the lines on and store each window now, until the writer closes the pipe."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    count = 0
    for line in handle:
        sys.stdout.write(line)
        sys.stdout.flush()
        count += traffic.collect([line], store)
    return count


if __name__ == "__main__":
    raise SystemExit(main())
