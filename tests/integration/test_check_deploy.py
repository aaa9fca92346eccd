"""steps.check_deploy against a served function: it passes only on the expected pin."""

from __future__ import annotations

import json

import pytest
from werkzeug import Request, Response

from tests.helpers import call_step, publish_once, serve_function, stop_function

TOKEN = "secret-identity-token-1234"


@pytest.fixture
def served(local_uri, tmp_path):
    metrics = publish_once(local_uri, tmp_path / "work", "run-1")
    function = serve_function(tmp_path, PIPELINE_STORE=local_uri)
    yield function, metrics
    stop_function(function.process)


def check(url: str, run_id: str, sha256: str, timeout: str = "5"):
    return call_step(
        "check_deploy",
        "--url",
        url,
        "--expect-run-id",
        run_id,
        "--expect-sha256",
        sha256,
        "--timeout",
        timeout,
        FUNCTION_ID_TOKEN=TOKEN,
    )


def test_it_passes_when_the_function_serves_the_expected_version(served) -> None:
    function, metrics = served
    result = check(function.url, "run-1", metrics["model_sha256"])
    assert result.returncode == 0, result.stderr


def test_it_fails_in_one_line_when_another_version_is_served(served) -> None:
    function, _ = served
    result = check(function.url, "run-2", "cd" * 32)
    assert result.returncode == 1
    [line] = [x for x in result.stderr.splitlines() if "check_deploy failed" in x]
    assert "serves 'run-1'" in line and "not run-2" in line
    assert TOKEN not in result.stderr


def test_it_gives_up_at_its_deadline_on_a_function_without_a_model(tmp_path) -> None:
    function = serve_function(tmp_path, PIPELINE_STORE=str(tmp_path / "empty-store"))
    try:
        result = check(function.url, "run-1", "ab" * 32, timeout="2")
    finally:
        stop_function(function.process)
    assert result.returncode == 1
    assert "did not serve run-1 within 2 s: it answered 503" in result.stderr
    assert "no model has been promoted" in result.stderr
    assert TOKEN not in result.stderr
    assert json.dumps(TOKEN) not in function.log()


def _check_against(httpserver, handler, token: str):
    """check_deploy, for one second, against a stand-in answering with ``handler``."""
    httpserver.expect_request("/").respond_with_handler(handler)
    return call_step(
        "check_deploy", "--url", httpserver.url_for("/"), "--expect-run-id", "run-1",
        "--expect-sha256", "a" * 64, "--timeout", "1", FUNCTION_ID_TOKEN=token,
    )  # fmt: skip


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXBsb3llciJ9.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize("token", [TOKEN, JWT])
def test_a_server_that_echoes_the_token_never_gets_it_printed(httpserver, token) -> None:
    """A proxy or a broken function that quotes the request's Authorization in its error."""

    def echo(request: Request) -> Response:
        said = f"upstream refused {request.headers.get('Authorization')} (x-goog {token[:20]}…)"
        return Response(
            json.dumps({"error": {"message": said}}), 503, content_type="application/json"
        )

    result = _check_against(httpserver, echo, token)
    assert result.returncode == 1
    assert "it answered 503" in result.stderr
    assert token not in result.stderr and token[:20] not in result.stderr
    assert "[redacted]" in result.stderr


def test_a_function_that_serves_pieces_of_the_token_as_its_version_gets_none_printed(
    httpserver,
) -> None:
    def echo(request: Request) -> Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        model = {"run_id": token[10:49], "sha256": token[-12:]}
        return Response(json.dumps({"model": model}), 200, content_type="application/json")

    result = _check_against(httpserver, echo, JWT)
    assert result.returncode == 1
    assert JWT[10:49] not in result.stderr and JWT[-12:] not in result.stderr
    assert "serves '[redacted]'" in result.stderr
