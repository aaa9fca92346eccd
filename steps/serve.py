"""Serve the store's live model until Ctrl-C, collecting its traffic: ``make serve``.

Runs functions-framework on main.py's ``predict_handler`` on 127.0.0.1, as the Cloud
Function runs,
passes on every line it writes, and stores each traffic window in the monitoring store
the moment it is emitted, in a sink's layout, so the dashboard and ``steps.monitor`` read a
laptop's traffic as they read the bucket.

Ctrl-C stops the function the way Cloud Run stops an instance, with SIGTERM, and the
window it writes on its way out is kept. The function runs in its own session so that
only this process hears Ctrl-C: when a terminal's SIGINT reaches gunicorn's threaded
worker as well as its master, the worker can deadlock shutting its thread pool down
inside a signal handler twice (seen in about one stop in eight here), and is killed 30 s
later with its last window unwritten.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from heartml import config, traffic
from heartml.errors import PipelineError
from heartml.store import open_store
from steps._cli import run

log = logging.getLogger("steps.serve")
MAIN = Path(__file__).resolve().parents[1] / "main.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, "PORT")
    config.add_flag(parser, "MONITOR_STORE")
    args = parser.parse_args(argv)

    def body() -> None:
        store = open_store(config.resolve(args, "MONITOR_STORE"), timeout=config.store_timeout())
        command = [
            str(Path(sys.executable).parent / "functions-framework"),
            "--target", "predict_handler", "--source", str(MAIN),
            "--host", "127.0.0.1", "--port", str(config.resolve(args, "PORT")),
        ]  # fmt: skip
        function = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        stopping: list[int] = []

        def stop(signum: int, _frame: Any) -> None:
            stopping.append(signum)
            if function.poll() is None:
                os.killpg(function.pid, signal.SIGTERM)

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        count = 0
        assert function.stdout is not None
        for line in function.stdout:  # until the function exits and closes its end
            sys.stdout.write(line)
            sys.stdout.flush()
            count += traffic.collect([line], store)
        code = function.wait()
        log.info("collected %d traffic window(s) into %s", count, store.uri)
        if code and not stopping:
            raise PipelineError(f"functions-framework exited with {code}")

    return run("serve", body)


if __name__ == "__main__":
    raise SystemExit(main())
