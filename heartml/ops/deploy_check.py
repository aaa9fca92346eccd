"""Proof of a deploy: the function answers, and serves the version just promoted.

``check_deploy`` GETs the function (with an identity token: the function is private)
until it answers 200 or the time is up, and fails unless its served ``model.run_id``
and ``model.sha256`` are the expected ones. Each call ends by the deadline however
slowly the answer drips (``downstream.ask_function``); the token is never printed, nor
anything in the server's words that looks like a credential.
"""

from __future__ import annotations

import logging
import time

import requests

from heartml.errors import PipelineError
from heartml.ops.downstream import ask_function, server_text

# The step's name: its log lines read as they did when this was the step's own code.
log = logging.getLogger("steps.check_deploy")
# A new revision's first instance may still be starting: these answers are worth a retry.
RETRYABLE = {429, 500, 502, 503, 504}
REQUEST_TIMEOUT_SECONDS = 30.0


def check_deploy(url: str, run_id: str, sha256: str, token: str, timeout: float) -> None:
    """Return when ``url`` serves ``run_id`` with ``sha256``; raise PipelineError otherwise."""
    if not url or not run_id or not sha256:
        raise PipelineError("give --url, --expect-run-id and --expect-sha256")
    deadline, wait, last = time.monotonic() + timeout, 1.0, "no answer"
    while True:
        left = deadline - time.monotonic()
        try:
            response = ask_function(url, token, max(0.1, min(REQUEST_TIMEOUT_SECONDS, left)))
        except requests.RequestException as exc:
            last = f"cannot reach it ({type(exc).__name__}: {server_text(exc, 120, (token,))})"
        except ValueError as exc:  # a URL requests cannot even parse
            raise PipelineError(f"cannot call the function's URL: {type(exc).__name__}") from None
        else:
            if response.status_code in (401, 403):
                raise PipelineError(
                    f"{url} answered {response.status_code}: the deployer may not invoke it "
                    "(grant it roles/run.invoker on this function; README, fork guide)"
                )
            if response.status_code == 200:
                served = _served(response)
                if served == (run_id, sha256):
                    log.info("%s serves %s (model sha256 %s…)", url, run_id, sha256[:12])
                    return
                raise PipelineError(
                    f"{url} serves {server_text(served[0], 80, (token,))} "
                    f"(sha256 {server_text(served[1], 12, (token,))}…), "
                    f"not {run_id} (sha256 {sha256[:12]}…)"
                )
            if response.status_code not in RETRYABLE:
                raise PipelineError(f"{url} answered {response.status_code}")
            last = f"it answered {response.status_code}: {_reason(response, token)}"
        if time.monotonic() + wait > deadline:
            raise PipelineError(f"{url} did not serve {run_id} within {timeout:.0f} s: {last}")
        log.info("%s not ready (%s); trying again in %.0f s", url, last, wait)
        time.sleep(wait)  # backing off against a deadline, not guessing a readiness time
        wait = min(wait * 2, 15.0)


def _served(response: requests.Response) -> tuple[str | None, str | None]:
    try:
        model = response.json().get("model") or {}
        return model.get("run_id"), model.get("sha256")
    except (ValueError, AttributeError):  # not JSON, or not the object we documented
        return None, None


def _reason(response: requests.Response, token: str) -> str:
    try:
        return server_text(response.json()["error"]["message"], 200, (token,))
    except (ValueError, KeyError, TypeError):
        return "no reason given"
