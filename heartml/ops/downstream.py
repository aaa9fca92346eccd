"""Every outside HTTP call: one request and its whole answer inside a wall-clock deadline.

One home for the calls the pipeline makes to others: GitHub's repository dispatch and
Slack's webhook (each posted from one function here, for the event consumers and the
monitor alike), the pull-request comment (``pull_request``), and the question to the
deployed function (``check_deploy`` and the dashboard). ``requests``' own timeout is per socket read
and restarts with every byte, so a downstream that drips its answer never trips it:
``exchange`` runs each call on its own daemon thread and, at the deadline, shuts the
call's sockets down, so an abandoned call ends at once, holds no thread another call
needs and never delays the process's exit. No message quotes a URL's path (a
webhook's secret) or a header (a token).
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

from heartml import config
from heartml.errors import DownstreamRefused, DownstreamUnavailable

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.downstream")


@dataclass(frozen=True)
class RetryPolicy(config.SettingsGroup):
    """How hard to try a call to GitHub or Slack before giving up (the NOTIFY_* settings)."""

    attempts: int = config.setting("NOTIFY_RETRY_ATTEMPTS")
    base_delay: float = config.setting("NOTIFY_RETRY_BASE_SECONDS")
    timeout: float = config.setting("NOTIFY_TIMEOUT_SECONDS")
    budget: float = config.setting("NOTIFY_BUDGET_SECONDS")


# The event ``pipeline.yml`` listens for (``repository_dispatch: types: [dataset-updated]``).
DISPATCH_EVENT_TYPE = "dataset-updated"


def dispatch_training(
    api: str, repository: str, token: str, payload: dict[str, Any], policy: RetryPolicy
) -> requests.Response:
    """Ask GitHub to run Train and Deploy (``repository_dispatch``; answered 204)."""
    return send_json(
        "POST",
        f"{api.rstrip('/')}/repos/{repository}/dispatches",
        {"event_type": DISPATCH_EVENT_TYPE, "client_payload": payload},
        github_headers(token),
        policy,
    )


def post_to_slack(webhook: str, message: dict[str, Any], policy: RetryPolicy) -> requests.Response:
    """Post a message to a Slack incoming webhook (its URL is the secret: never in a message)."""
    return send_json("POST", webhook, message, {}, policy)


def ask_function(url: str, token: str, seconds: float) -> requests.Response:
    """GET the deployed function, which answers with the version it serves.

    A private function needs an identity token (``FUNCTION_ID_TOKEN``); the answer
    arrives whole within ``seconds`` or NoCompleteAnswer is raised.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return exchange("GET", url, headers=headers, seconds=seconds)


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

    Retried: refused connections, timeouts, answers that did not arrive whole in time,
    5xx, 429 and GitHub's rate-limit 403, waiting at least what a ``Retry-After`` asks.
    Any other 4xx is returned at once (a retry cannot fix it). Raises
    DownstreamUnavailable when every attempt failed or the time budget ran out (the
    event goes back to Eventarc, which redelivers), and DownstreamRefused when the call
    cannot be made as configured or the answer is too large to be one we expect.
    """
    deadline = time.monotonic() + policy.budget
    problem, attempt = "no attempt made", 0
    for attempt in range(1, policy.attempts + 1):
        wait = 0.0
        left = deadline - time.monotonic()
        try:
            response = exchange(
                method, url, body=body, headers=headers, seconds=max(0.1, min(policy.timeout, left))
            )
            if not _retryable(response):
                return response
            problem = f"HTTP {response.status_code}"
            wait = _retry_after(response)
        except NoCompleteAnswer as exc:
            problem = str(exc)  # a dripping or silent downstream
        except AnswerTooLarge as exc:
            raise DownstreamRefused(f"{host(url)} {exc}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = type(exc).__name__
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


# GitHub redirects a renamed repository's API calls once; more hops than this is a loop,
# found fast (requests' own limit, 30, would spend a short budget on going round).
MAX_REDIRECTS = 5
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a page of 100 GitHub comments of 65,536 characters fits


class NoCompleteAnswer(requests.Timeout):
    """The answer did not arrive whole within the call's wall-clock deadline."""


class AnswerTooLarge(requests.RequestException):
    """The answer was longer than any the pipeline expects (``MAX_ANSWER_BYTES``)."""


def exchange(
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    seconds: float,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> requests.Response:
    """One request, redirects followed, and its whole answer (read) within ``seconds``.

    Raises NoCompleteAnswer at the deadline, bytes dripping or not, AnswerTooLarge past
    ``max_bytes``, and whatever ``requests`` raised for the call otherwise.
    """
    call = _Call()
    worker = threading.Thread(
        target=call.run,
        args=(method, url, body, headers or {}, seconds, max_bytes),
        name="downstream",
        daemon=True,  # an abandoned call must never hold the process's exit
    )
    worker.start()
    if not call.finished.wait(seconds):
        call.cut_off()
        raise NoCompleteAnswer(f"no complete answer within {seconds:.1f} s")
    if call.error is not None:
        raise call.error
    assert call.response is not None
    return call.response


_current = threading.local()  # the _Call whose thread this is, for the connections it opens


class _Call:
    """One exchange's outcome and the sockets it opened, so that its deadline can cut them.

    Each connection's socket is tracked as a duplicate descriptor: shutting that down ends
    the connection for every holder (the plain socket, or the TLS socket built on it,
    mid-handshake or not), and the duplicate keeps the descriptor from being reused by
    anything else until this call has finished.
    """

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = self._closed = False

    def track(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            if self._closed:
                duplicate.close()
                return
            self._sockets.append(duplicate)
            if self._cut:
                _shut(duplicate)

    def cut_off(self) -> None:
        with self._lock:
            self._cut = True
            if not self._closed:
                for sock in self._sockets:
                    _shut(sock)

    def run(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        seconds: float,
        max_bytes: int,
    ) -> None:
        _current.call = self
        try:
            with requests.Session() as session:
                session.max_redirects = MAX_REDIRECTS
                for prefix in ("http://", "https://"):
                    session.mount(prefix, _TrackedAdapter())
                response = session.request(
                    method, url, json=body, headers=headers, timeout=seconds, stream=True
                )
                with response:
                    content = bytearray()
                    for chunk in response.iter_content(64 * 1024):
                        content += chunk
                        if len(content) > max_bytes:
                            raise AnswerTooLarge(f"answered more than {max_bytes:,} bytes")
                response._content = bytes(content)  # read here, inside the deadline
            self.response = response
        except BaseException as exc:  # handed to the caller, who decides
            self.error = exc
        finally:
            with self._lock:
                self._closed = True
                for sock in self._sockets:
                    sock.close()
            self.finished.set()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)


def _track(sock: socket.socket) -> None:
    call = getattr(_current, "call", None)
    if call is not None:
        call.track(sock)


class _TrackedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _track(sock)
        return sock


class _TrackedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _track(sock)
        return sock


class _TrackedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedTLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_TRACKED_POOLS = {"http": _TrackedPool, "https": _TrackedTLSPool}


class _TrackedAdapter(HTTPAdapter):
    """requests' adapter, opening connections whose sockets the call can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _TRACKED_POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS keeps its own connections
            manager.pool_classes_by_scheme = _TRACKED_POOLS
        return manager


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
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        hostname = parts.hostname if parts is not None else None
    except ValueError:  # "http://[::1": an unclosed IPv6 literal
        parts = hostname = None
    if parts is None or not parts.scheme or not hostname:
        return "the configured URL"
    return f"{parts.scheme}://{hostname}"


# What a credential looks like when a server echoes one: an Authorization scheme and its
# value, a JWT (identity tokens are), a GitHub, Slack, Google or AWS token, any long key.
_CREDENTIAL = re.compile(
    r"(?i)\b(?:(?:bearer|basic|token)\s+)+\S+"
    r"|eyJ[\w-]{4,}\.[\w-]{4,}\.?[\w-]*"
    r"|\b(?:gh[pousr]_|github_pat_|xox[abprs]-|ya29\.|AKIA)[\w.-]+"
    r"|[A-Za-z0-9+/_=-]{40,}"
)


def server_text(text: Any, limit: int = 200, secrets: tuple[str, ...] = ()) -> str:
    """Text a server sent, fit for a log line: credentials stripped, cut, quoted as data.

    Quoted with ``ascii()``: no newline or control character survives, so the text can
    never start a line of its own (a workflow command) or pass for our own words.
    """
    shown = _without(str(text)[: limit * 4], secrets)
    shown = _CREDENTIAL.sub("[redacted]", shown)
    return ascii(shown[:limit] + ("…" if len(shown) > limit else ""))


def _without(text: str, secrets: tuple[str, ...], run: int = 8) -> str:
    """``text`` with every stretch of ``run`` or more characters of a known secret redacted.

    A server that quotes a token may cut it; a cut token is still most of the token. A
    secret shorter than ``run`` is redacted where it appears whole.
    """
    hidden = [False] * len(text)
    for secret in filter(None, secrets):
        width = min(run, len(secret))
        pieces = {secret[i : i + width] for i in range(len(secret) - width + 1)}
        for i in range(len(text) - width + 1):
            if text[i : i + width] in pieces:
                hidden[i : i + width] = [True] * width
    out: list[str] = []
    for char, secret in zip(text, hidden, strict=True):
        if not secret:
            out.append(char)
        elif not out or out[-1] != "[redacted]":
            out.append("[redacted]")
    return "".join(out)
