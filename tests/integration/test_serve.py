"""``make serve``'s step when the function cannot start: a clear exit, not a silent one."""

from __future__ import annotations

import socket

from tests.helpers import run_step


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
