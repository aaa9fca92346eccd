"""``make serve``'s step: a clear exit when the function cannot start, and no function left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts
from tests.helpers import REPO, free_port, python_env, run_step


def test_a_function_that_cannot_listen_fails_the_step(tmp_path) -> None:
    with socket.socket() as taken:  # another server already holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_step(
            "serve", "--port", str(port), "--from", str(tmp_path / "sink"),
            PIPELINE_STORE=str(tmp_path / "store"),
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "serve failed: functions-framework exited with" in result.stderr
    assert list((tmp_path / "sink").rglob("*.json")) == []  # no request, no window


def _listeners(port: int) -> list[int]:
    """Processes whose command line serves ``port`` (functions-framework's --port)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if f"\0--port\0{port}\0".encode() in cmdline.read_bytes() + b"\0":
                found.append(int(cmdline.parent.name))
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL], ids=["SIGHUP", "kill -9"])
def test_the_function_never_outlives_the_step(how, tmp_path, trained_artifacts) -> None:
    """Issue 25: a closed terminal, or the step killed, left the function holding the port."""
    store_uri = str(tmp_path / "store")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    port = free_port()
    step = subprocess.Popen(
        [sys.executable, "-m", "steps.serve", "--port", str(port), "--from", str(tmp_path / "s")],
        cwd=REPO, env=python_env(PIPELINE_STORE=store_uri), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/", timeout=10).ok:
                    break
            time.sleep(0.05)  # polling for readiness against a deadline
        assert _listeners(port), "the function did not start"
        os.kill(step.pid, how)  # the step alone, as a terminal or `kill -9` reaches it
        step.wait(timeout=30)
        deadline = time.monotonic() + 20
        while (_listeners(port) or not _port_is_free(port)) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the function's exit against a deadline
        assert _listeners(port) == [] and _port_is_free(port)
    finally:
        for pid in _listeners(port):  # on a failure, leave nothing behind for later tests
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if step.poll() is None:
            step.kill()


def test_a_monitoring_store_that_cannot_be_written_stops_the_step_before_serving(
    tmp_path,
) -> None:
    (tmp_path / "a-file").write_text("")
    port = free_port()
    result = run_step(
        "serve", "--port", str(port), "--from", str(tmp_path / "a-file" / "sink"),
        PIPELINE_STORE=str(tmp_path / "store"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot be written" in result.stderr and _listeners(port) == []
