"""Serve the store's live model until Ctrl-C, collecting its traffic: ``make serve``.

Runs functions-framework on main.py's ``predict_handler`` on 127.0.0.1, as the Cloud
Function runs, passes on every line it writes, and stores each traffic window in the
monitoring store the moment it is emitted, in a sink's layout, so the dashboard and
``steps.monitor`` read a laptop's traffic as they read the bucket.

Ctrl-C stops the function the way Cloud Run stops an instance, with SIGTERM, and the
window it writes on its way out is kept. The function runs in its own session so that
only this process hears Ctrl-C: when a terminal's SIGINT reaches gunicorn's threaded
worker as well as its master, the worker can deadlock shutting its thread pool down
inside a signal handler twice (seen in about one stop in eight here), and is killed 30 s
later with its last window unwritten.

The function never outlives this step (it would keep the port and answer 500 to every
request, its log pipe broken): a closed terminal (SIGHUP) stops it like Ctrl-C; so does
any error here, a store that cannot be written included; and if this process is killed
outright, Linux sends the function SIGTERM itself (``PR_SET_PDEATHSIG``, set in the child
before it runs functions-framework). The monitoring store is checked before the function
starts, so a store that cannot be written is a one-line error, not a lost window.
"""

from __future__ import annotations

import argparse

from heartml import config
from heartml.ops.local_function import serve_locally
from heartml.store.backends import open_store
from steps._cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, "PORT")
    config.add_flag(parser, "MONITOR_STORE")
    args = parser.parse_args(argv)
    return run(
        "serve",
        lambda: serve_locally(
            config.resolve(args, "PORT"), open_store(config.resolve(args, "MONITOR_STORE"))
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
