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
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from heartml import config
from heartml.errors import PipelineError
from heartml.ops import traffic_windows
from heartml.store.backends import Store, open_store
from steps._cli import run

log = logging.getLogger("steps.serve")
MAIN = Path(__file__).resolve().parents[1] / "main.py"
# gunicorn's master gives its worker 9 s to finish and flush (heartml.serving.bounded_worker).
GRACE_SECONDS = 15
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when this process dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_function(function: subprocess.Popen[str]) -> None:
    """SIGTERM to the function's whole session, as Cloud Run stops an instance."""
    if function.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(function.pid, signal.SIGTERM)


def check_writable(store: Store) -> None:
    """Fail before serving if the monitoring store cannot take a window (say a read-only path)."""
    key = f"{traffic_windows.LOG_ID}/.writable-check"
    try:
        store.write_bytes(key, b"")
        store.delete(key)
    except (PipelineError, OSError) as exc:
        raise PipelineError(f"the monitoring store {store.uri} cannot be written: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, "PORT")
    config.add_flag(parser, "MONITOR_STORE")
    args = parser.parse_args(argv)

    def body() -> None:
        store = open_store(config.resolve(args, "MONITOR_STORE"))
        check_writable(store)
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
            preexec_fn=die_with_parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        stopping: list[int] = []

        def stop(signum: int, _frame: Any) -> None:
            stopping.append(signum)
            stop_function(function)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)
        count = 0
        try:
            assert function.stdout is not None
            for line in function.stdout:  # until the function exits and closes its end
                sys.stdout.write(line)
                sys.stdout.flush()
                count += traffic_windows.collect([line], store)
        finally:
            # On any error here (the store failing mid-way, a broken terminal), the
            # function goes too; after a normal stop this finds it gone already.
            stop_function(function)
            try:
                code = function.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(function.pid, signal.SIGKILL)
                code = function.wait()
        log.info("collected %d traffic window(s) into %s", count, store.uri)
        if code and not stopping:
            raise PipelineError(f"functions-framework exited with {code}")

    return run("serve", body)


if __name__ == "__main__":
    raise SystemExit(main())
