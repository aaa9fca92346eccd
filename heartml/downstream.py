"""Calls to GitHub and Slack: retried with backoff inside a time budget no call outlasts.

One home for the outside HTTP calls the pipeline makes (the event consumers' dispatch
and alert, the pull-request comment). No message quotes a URL's path (a webhook's
secret) or a header (a token).
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from heartml import config
from heartml.errors import DownstreamRefused, DownstreamUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a call to GitHub or Slack before giving up (the NOTIFY_* settings)."""

    attempts: int = config.SETTINGS["NOTIFY_RETRY_ATTEMPTS"].default
    base_delay: float = config.SETTINGS["NOTIFY_RETRY_BASE_SECONDS"].default
    timeout: float = config.SETTINGS["NOTIFY_TIMEOUT_SECONDS"].default
    budget: float = config.SETTINGS["NOTIFY_BUDGET_SECONDS"].default

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Read the ``NOTIFY_RETRY_*``, ``NOTIFY_TIMEOUT_SECONDS`` and ``NOTIFY_BUDGET_SECONDS``."""
        return cls(
            attempts=config.get("NOTIFY_RETRY_ATTEMPTS"),
            base_delay=config.get("NOTIFY_RETRY_BASE_SECONDS"),
            timeout=config.get("NOTIFY_TIMEOUT_SECONDS"),
            budget=config.get("NOTIFY_BUDGET_SECONDS"),
        )


def github_headers(token: str) -> dict[str, str]:
    """The headers GitHub's REST API documents, with the token."""
    return {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def send_json(
    method: str,
    url: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    policy: RetryPolicy,
) -> requests.Response:
    """Send a JSON request (GET with no body) with retries; return the final answer.

    Retried: refused connections, timeouts, 5xx, 429 and GitHub's rate-limit 403, waiting
    at least what a ``Retry-After`` asks. Any other 4xx is returned at once (a retry
    cannot fix it). Raises DownstreamUnavailable when every attempt failed or the time
    budget would run out (the event goes back to Eventarc, which redelivers), and
    DownstreamRefused when the call cannot be made as configured. No message quotes the
    URL's path (a webhook's secret) or a header (a token).
    """
    deadline = time.monotonic() + policy.budget
    problem = "no attempt made"
    for attempt in range(1, policy.attempts + 1):
        wait = 0.0
        try:
            left = deadline - time.monotonic()
            timeout = max(0.1, min(policy.timeout, left))
            call = _CALLS.submit(
                requests.request, method, url, json=body, headers=headers, timeout=timeout
            )
            # A per-read timeout restarts with every byte; the budget must not.
            response = call.result(timeout=max(0.1, left))
            if not _retryable(response):
                return response
            problem = f"HTTP {response.status_code}"
            wait = _retry_after(response)
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = type(exc).__name__
        except FuturesTimeout:
            problem = "no complete answer within the time budget"  # a dripping downstream
            break
        except requests.TooManyRedirects:
            raise DownstreamRefused(f"{host(url)} redirects in a loop") from None
        except (requests.RequestException, ValueError) as exc:  # bad URL, header or token
            raise DownstreamRefused(
                f"cannot call {host(url)} as configured ({type(exc).__name__}); "
                "check the URL and the token (stray whitespace?)"
            ) from None
        delay = max(wait, policy.base_delay * 2 ** (attempt - 1) * (1 + random.random() / 4))
        if attempt == policy.attempts or time.monotonic() + delay > deadline:
            break
        log.warning(
            "%s answered %s (attempt %d); retrying in %.2f s", host(url), problem, attempt, delay
        )
        time.sleep(delay)  # the backoff (or the downstream's own Retry-After), not a guess
    raise DownstreamUnavailable(f"{host(url)} unavailable after {attempt} attempt(s): {problem}")


# Calls run here so that the caller can stop waiting at the deadline; a call left behind
# ends at its own read timeout, which is never longer than the budget.
_CALLS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="downstream")


def _retryable(response: requests.Response) -> bool:
    if response.status_code >= 500 or response.status_code == 429:
        return True
    # GitHub answers its rate limits with 403 (secondary limits with 429 or 403).
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )


def _retry_after(response: requests.Response) -> float:
    """Seconds a downstream asked to wait (``Retry-After``, or GitHub's reset time)."""
    value = response.headers.get("retry-after", "")
    if value.strip().isdigit():
        return float(value)
    reset = response.headers.get("x-ratelimit-reset", "")
    if reset.strip().isdigit():
        return max(0.0, float(reset) - time.time())
    return 0.0


def host(url: str) -> str:
    """Name a downstream by scheme and host only: for a webhook the path is the secret."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.scheme or not parts.hostname:
        return "the configured URL"
    return f"{parts.scheme}://{parts.hostname}"
