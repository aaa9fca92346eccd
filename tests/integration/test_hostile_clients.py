"""The served function on a hostile day (issue 25): every case here failed on the old server.

Slow clients, framework-level malformed requests, an oversized request line, a caller's
key text, and shutdowns with few requests or one in flight, all against real
functions-framework over real sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.run_folder import read_artifacts
from tests.contract import check_response
from tests.helpers import SAMPLE_RECORD, serve_function, stop_function

# Text a client puts in what it sends: no answer and no log line may repeat it.
MARKER = "Q7ZMARKER"
VALUES = {"age": 71.3917, "chol": 287.4139, "trestbps": 137.2719, "thalach": 149.8317}
POST_HEAD = "POST / HTTP/1.1\r\nHost: fn\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def served(trained_artifacts, tmp_path_factory):
    """One function for the cases that leave it running (each test that stops it starts its own)."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    store_uri = str(tmp_path / "store")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    function = serve_function(tmp_path, PIPELINE_STORE=store_uri, SERVE_REQUEST_SECONDS="3")
    yield function
    stop_function(function.process)


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def _exchange(port: int, data: bytes, seconds: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        # Refused midway (a limit was passed): the answer is still there to read.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _post(extra_headers: str, body: bytes) -> bytes:
    return (POST_HEAD + extra_headers + "\r\n").encode() + body


RECORD_BYTES = json.dumps(SAMPLE_RECORD).encode()
MALFORMED = {
    "two Content-Lengths": (_post(f"Content-Length: 5\r\nContent-Length: 6\r\nX-{MARKER}: 1\r\n", b"hello!"), 400, "headers"),
    "Content-Length and chunked": (_post(f"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nX-{MARKER}: 1\r\n", b"0\r\n\r\n"), 400, "headers"),
    "a Content-Length not a number": (_post(f"Content-Length: {MARKER}\r\n", b""), 400, "headers"),
    "a 20 KB header": (_post(f"X-Big: {MARKER}{'a' * 20_000}\r\n", b""), 431, "headers"),
    "150 headers": (_post("".join(f"X-{MARKER}-{i}: 1\r\n" for i in range(150)), b""), 431, "headers"),
    "a garbage request line": (f"{MARKER} garbage\r\n\r\n".encode(), 400, None),
    "TLS bytes": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + MARKER.encode() * 20, 400, "request"),
    "the HTTP/2 preface": (f"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n{MARKER}".encode(), 400, None),
    "a chunk size past 2**64": (_post("Transfer-Encoding: chunked\r\n", b"ffffffffffffffffffff\r\n" + MARKER.encode()), 413, "body"),
    "a chunk size not hex": (_post("Transfer-Encoding: chunked\r\n", f"{MARKER}\r\n".encode()), 400, "body"),
    "an unknown transfer coding": (_post(f"Transfer-Encoding: {MARKER.lower()}\r\n", b"{}"), 501, "Transfer-Encoding"),
    "a folded header": (_post(f"X-A: 1\r\n  {MARKER}\r\nContent-Length: 2\r\n", b"{}"), 400, "headers"),
    "a body past 1 MiB": (_post("Content-Length: 2000000\r\n", MARKER.encode()), 413, "body"),
    "LF line endings": (f"GET /{MARKER} HTTP/1.1\nHost: fn\n\n".encode(), 400, "request line"),
    "a header ending in a bare LF": (_post(f"X-A: {MARKER}\nContent-Length: 2\r\n", b"{}"), 400, "headers"),
    "a short chunked body": (_post("Transfer-Encoding: chunked\r\n", b"5\r\n{}"), 408, "request"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_request_the_framework_refuses_is_answered_in_json_without_an_echo(served, case) -> None:
    data, expected_status, expected_field = MALFORMED[case]
    status, headers, body = _exchange(_port(served.url), data)
    assert status == expected_status, (case, body[:300])
    assert headers.get("Content-Type") == "application/json", (case, headers)
    check_response("post", status, json.loads(body))  # the API's own error shape
    error = json.loads(body)["error"]
    if expected_field is not None:
        assert error["field"] == expected_field, error
    assert error["message"] and MARKER not in body.decode() and MARKER.lower() not in body.decode()
    assert MARKER not in served.log() and MARKER.lower() not in served.log()


def test_stalled_senders_do_not_keep_a_healthy_client_waiting(served) -> None:
    """Eight kinds of stalled connection, two of each: the function answers the ninth."""
    port = _port(served.url)
    stalls = [
        b"POST / HTTP/1.1\r\nHost: fn\r\n",  # headers begun, never ended
        _post("Content-Length: 100\r\n", b""),  # a body promised, never sent
        _post("Content-Length: 100\r\n", b'{"age": '),  # a body begun
        _post("Transfer-Encoding: chunked\r\n", b"a\r\n0123456789\r\n"),  # no last chunk
        b"P",  # one byte
        b"",  # connected, silent
        _post("Expect: 100-continue\r\nContent-Length: 50\r\n", b""),
        b"GET / HTTP/1.1\r\nHo",
    ]
    held = []
    try:
        for data in stalls * 2:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if data:
                sock.sendall(data)
            held.append(sock)
        for _ in range(3):  # a healthy client, and again while the stalls still hold
            answer = requests.post(served.url, json=SAMPLE_RECORD, timeout=1)
            assert answer.status_code == 200, answer.text
            assert requests.get(served.url, timeout=1).status_code == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("every", [2, 1], ids=["half idle, half stalled", "all stalled"])
def test_a_flood_of_connections_cannot_lock_a_client_out(served, every) -> None:
    """300 connections, more than the worker lets wait (200), then a client."""
    port = _port(served.url)
    stalled = _post("Content-Length: 100\r\n", b"{")
    held = []
    try:
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % every == 0:
                sock.sendall(stalled)
            held.append(sock)
        answer = requests.post(served.url, json=SAMPLE_RECORD, timeout=1)
        assert answer.status_code == 200, answer.text
    finally:
        for sock in held:
            sock.close()


def test_when_only_stalled_senders_wait_the_longest_waiting_is_refused(served) -> None:
    port = _port(served.url)
    stalled = _post("Content-Length: 100\r\n", b"{")
    first = socket.create_connection(("127.0.0.1", port), timeout=5)
    first.sendall(stalled)
    # Answered after the server has read the stall above (it arrived first): the first
    # connection now holds a request begun, and is the oldest.
    assert requests.post(served.url, json=SAMPLE_RECORD, timeout=1).status_code == 200
    held = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(stalled)
            held.append(sock)
        answer = first.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"Retry-After: 1" in head
        assert json.loads(body)["error"]["field"] == "server"
        assert requests.post(served.url, json=SAMPLE_RECORD, timeout=1).status_code == 200
    finally:
        first.close()
        for sock in held:
            sock.close()


def test_a_ten_megabyte_request_line_is_refused_as_soon_as_it_is_too_long(served) -> None:
    port = _port(served.url)
    line = b"GET /" + b"a" * 10_000_000 + b" HTTP/1.1\r\nHost: fn\r\n\r\n"
    started = time.monotonic()
    status, headers, body = _exchange(port, line, seconds=1)
    assert status == 414 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["field"] == "request line"
    assert time.monotonic() - started < 1  # the bound (the old server took 13 s)
    assert requests.post(served.url, json=SAMPLE_RECORD, timeout=5).status_code == 200


def test_a_callers_key_and_method_never_reach_a_log_line(served) -> None:
    answer = requests.post(
        served.url, json={**SAMPLE_RECORD, f"Jane Roe {MARKER} 71.777": 1}, timeout=5
    )
    assert answer.status_code == 400
    assert MARKER in answer.json()["error"]["field"]  # the caller is told which key
    duplicate = b'{"age": 50, "' + MARKER.encode() + b'": 1, "' + MARKER.encode() + b'": 2}'
    answer = requests.post(
        served.url, data=duplicate, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert answer.status_code == 400
    assert requests.request(f"X{MARKER}", served.url, timeout=5).status_code == 405
    log = served.log()
    assert MARKER not in log and "Jane" not in log
    assert '"message":"POST 400 an unknown field: is not a feature of this model' in log


def _serve_to_stop(tmp_path, trained_artifacts, **env):
    store_uri = str(tmp_path / "store")
    registry.publish(open_store(store_uri), *read_artifacts(trained_artifacts))
    return serve_function(tmp_path, PIPELINE_STORE=store_uri, **env)


def _windows(text: str) -> list[dict]:
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [e["monitoring"] for e in entries if e.get("logger") == "heartml.monitoring"]


def test_one_request_then_a_stop_writes_counts_only(tmp_path, trained_artifacts) -> None:
    served = _serve_to_stop(tmp_path, trained_artifacts)
    try:
        assert requests.post(served.url, json={**SAMPLE_RECORD, **VALUES}, timeout=5).ok
    finally:
        stop_function(served.process)
    text = served.log()
    [window] = _windows(text)
    assert window["count_only"] is True and (window["requests"], window["records"]) == (1, 1)
    assert not {"features", "probability", "latency_ms"} & window.keys()
    assert window["start"].endswith(":00:00Z") and window["end"].endswith(":00:00Z")
    for value in VALUES.values():
        assert str(value) not in text


def test_a_request_in_flight_at_sigterm_is_answered_and_in_the_last_window(
    tmp_path, trained_artifacts
) -> None:
    """k - 1 requests, then one whose body is still arriving when SIGTERM comes."""
    served = _serve_to_stop(tmp_path, trained_artifacts, MONITOR_MIN_BIN_COUNT="10")
    port = _port(served.url)
    try:
        for _ in range(9):
            assert requests.post(served.url, json=SAMPLE_RECORD, timeout=5).status_code == 200
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=10)
        in_flight.sendall(_post(f"Content-Length: {len(RECORD_BYTES)}\r\n", RECORD_BYTES[:10]))
        stopped_at = time.monotonic()
        os.killpg(served.process.pid, signal.SIGTERM)
        deadline = stopped_at + 5
        while "stopping: " not in served.log() and time.monotonic() < deadline:
            time.sleep(0.02)  # polling for the worker's own word that it is stopping
        assert "stopping: 1 request(s) still arriving" in served.log()
        in_flight.sendall(RECORD_BYTES[10:])
        answer = in_flight.recv(65536)
        in_flight.close()
        served.process.wait(timeout=10)
        stopped_in = time.monotonic() - stopped_at
    finally:
        stop_function(served.process)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert stopped_in < 10  # inside Cloud Run's notice before SIGKILL
    [window] = _windows(served.log())
    assert window["reason"] == "shutdown" and "count_only" not in window
    assert (window["requests"], window["records"]) == (10, 10)
    assert sum(window["probability"]) == 10


def test_idle_connections_do_not_delay_a_stop(tmp_path, trained_artifacts) -> None:
    served = _serve_to_stop(tmp_path, trained_artifacts)
    port = _port(served.url)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
    try:
        assert requests.post(served.url, json=SAMPLE_RECORD, timeout=5).status_code == 200
        stopped_at = time.monotonic()
        os.killpg(served.process.pid, signal.SIGTERM)
        served.process.wait(timeout=10)
        assert time.monotonic() - stopped_at < 10
    finally:
        for sock in held:
            sock.close()
        stop_function(served.process)
    assert len(_windows(served.log())) == 1


def test_many_connections_at_once_are_all_answered(served) -> None:
    """Twice the worker's threads, each posting at the same moment."""
    answers: list[int] = []
    barrier = threading.Barrier(16)

    def client() -> None:
        barrier.wait(timeout=10)
        answers.append(requests.post(served.url, json=SAMPLE_RECORD, timeout=10).status_code)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert answers == [200] * 16
