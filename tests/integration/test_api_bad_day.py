"""The function on a bad day: the store down at cold start, malformed bodies, tricky JSON."""

from __future__ import annotations

import json
import socket
import time

import requests

from heartml.store.backends import open_store
from tests.contract import check_response
from tests.helpers import (
    BUCKET,
    SAMPLE_RECORD,
    free_port,
    publish_once,
    serve_function,
    stop_function,
)

MARKER = "PATIENT-MARKER-4711"


def _raw_post(url: str, head: bytes, body: bytes) -> tuple[int, str, bytes]:
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + b"\r\n\r\n" + body)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), headers.decode(), payload


def test_a_malformed_chunked_body_gets_json_and_its_bytes_are_never_logged(tmp_path) -> None:
    function = serve_function(tmp_path, PIPELINE_STORE=str(tmp_path / "store"))
    try:
        status, headers, payload = _raw_post(
            function.url,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close",
            f"{MARKER}\r\n{{}}\r\n0\r\n\r\n".encode(),
        )
    finally:
        stop_function(function.process)
    assert status == 400, payload
    assert "application/json" in headers
    assert json.loads(payload)["error"]["field"] == "body"
    log = function.log()
    assert MARKER not in log
    assert "Traceback" not in log


def test_a_key_given_twice_and_a_huge_integer_get_400_naming_the_field(tmp_path, local_uri):
    publish_once(local_uri, tmp_path / "work", "run-1")
    function = serve_function(tmp_path, PIPELINE_STORE=local_uri)
    record = json.dumps(SAMPLE_RECORD)
    try:
        twice = requests.post(
            function.url,
            data=record[:-1] + ', "age": 30}',
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        huge = requests.post(
            function.url,
            data=json.dumps({**SAMPLE_RECORD, "chol": 0})[:-1].replace(
                '"chol": 0', '"chol": ' + "9" * 5001
            )
            + "}",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    finally:
        stop_function(function.process)
    assert twice.status_code == 400
    one = {"field": "age", "message": "is given twice; send each field once"}
    assert twice.json()["error"] == {**one, "problems": [one]}
    assert huge.status_code == 400
    one = {"field": "chol", "message": "must be a finite number"}
    assert huge.json()["error"] == {**one, "problems": [one]}


def test_a_cold_start_during_an_outage_serves_once_the_store_is_back(tmp_path) -> None:
    from gcp_storage_emulator.server import create_server

    port = free_port()
    uri = f"gs://{BUCKET}/outage"
    function = serve_function(
        tmp_path,
        PIPELINE_STORE=uri,
        STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}",  # nothing listens there yet
        PIPELINE_STORE_TIMEOUT="2",
    )
    server = None
    try:
        down = requests.get(function.url, timeout=30)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) >= 1
        check_response("GET", 503, down.json())
        assert down.json()["retry"]["attempts"] >= 1  # the readiness probe may have retried
        server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
        server.start()
        import os

        previous = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        try:
            publish_once(uri, tmp_path / "work", "run-1")
            assert open_store(uri).exists("models/latest.json")
        finally:
            if previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST")
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = previous
        answer = None
        for _ in range(10):  # each wait is the server's own Retry-After, not a guess
            response = requests.post(function.url, json=SAMPLE_RECORD, timeout=30)
            if response.status_code == 200:
                answer = response.json()
                break
            assert response.status_code == 503
            time.sleep(int(response.headers["Retry-After"]))
        assert answer is not None and answer["run_id"] == "run-1"
        assert requests.get(function.url, timeout=10).json()["status"] == "ok"
    finally:
        stop_function(function.process)
        if server is not None:
            server.stop()
