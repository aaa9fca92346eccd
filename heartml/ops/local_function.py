"""The function served on this machine as Cloud Run serves it, its traffic kept: ``make serve``.

Runs functions-framework on main.py's ``predict_handler`` on 127.0.0.1, passes on every
line it writes, and stores each traffic window in the monitoring store the moment it is
emitted, in a sink's layout, so the dashboard and ``steps.monitor`` read a laptop's
traffic as they read the bucket. Why the function gets its own session, and why it can
never outlive its parent, is ``steps.serve``'s story, told there for its user.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from heartml.errors import PipelineError
from heartml.ops import traffic_windows
from heartml.store.backends import Store

# The step's name: its log lines read as they did when this was the step's own code.
log = logging.getLogger("steps.serve")
MAIN = Path(__file__).resolve().parents[2] / "main.py"
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


def serve_locally(port: int, store: Store) -> None:
    """Serve until Ctrl-C, SIGTERM or SIGHUP; PipelineError if the function fails."""
    check_writable(store)
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target", "predict_handler", "--source", str(MAIN),
        "--host", "127.0.0.1", "--port", str(port),
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
