"""The function's HTTP server, bounded: no client can stall it, and every refusal is JSON.

functions-framework serves main.py with gunicorn's threaded worker (1 process, 8
threads), which hands a connection to a thread once a byte arrives and lets that thread
wait on the socket for the rest of the request: eight clients that send a header and
stop hold every thread, a request line has no length limit, and gunicorn's own refusals
are HTML that quote the request. ``BoundedWorker`` reads requests in its event loop
instead. A connection costs a thread only once its whole request (line, headers, body)
is in memory; the request must arrive within ``SERVE_REQUEST_SECONDS`` of its first byte
and within the size limits below; a refusal is the API's JSON error and quotes nothing
the client sent. On SIGTERM it finishes the requests in flight, then runs the
``process_hooks.at_shutdown`` hooks (the traffic window's flush) in the process that served them,
all within Cloud Run's 10 s notice. ``process_hooks.at_worker_start`` hooks run in the worker before
it accepts a connection (the served model is loaded there, not in the master).

functions-framework has no hook for gunicorn's settings. ``install`` swaps in a subclass
of its gunicorn application that adds them; main.py calls it at import, which
functions-framework does before it builds the server, however the function is started
(``make serve``, the tests, or Cloud Run's own ``functions-framework --target``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from heartml import config
from heartml.serving import process_hooks
from heartml.serving.http_framing import (
    LIMIT_HEADER_FIELD_BYTES,
    LIMIT_HEADER_FIELDS,
    LIMIT_REQUEST_LINE,
    Framing,
    Refused,
    refusal_bytes,
    refusal_for,
)

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.server")
# A new connection must start its request this soon; a kept-alive one within gunicorn's
# keepalive (2 s).
NEW_CONNECTION_IDLE_SECONDS = 5.0
SEND_SECONDS = 10.0  # a client that stops reading its answer is dropped after this
LINGER_SECONDS = 2.0  # after a refusal, read and drop what the client still sends
# Cloud Run sends SIGKILL 10 s after SIGTERM: requests in flight get 6 s to finish, the
# window is flushed after them, and gunicorn's master kills a worker still there at 9 s.
SHUTDOWN_SECONDS = 6.0
GRACEFUL_TIMEOUT_SECONDS = 9
# Connections the worker holds at once (gunicorn's default): past it, new ones wait in
# the kernel's backlog.
WORKER_CONNECTIONS = 1000
# Connections waiting for their request at once; each may hold up to about 1 MiB. One more
# evicts the one open longest (a finished one lingering first): a flood of idle or
# stalled connections is old by the time a client arrives, so it cannot lock one out.
WAITING_CONNECTIONS = 200
SWEEP_SECONDS = 0.25


class Connection:
    """One client connection while this worker holds it."""

    __slots__ = (
        "client", "closed", "data", "deadline", "framing", "lingering", "opened", "server", "sock",
    )  # fmt: skip

    def __init__(self, sock: socket.socket, client: Any, server: Any, idle_seconds: float) -> None:
        self.sock, self.client, self.server = sock, client, server
        self.data = bytearray()
        self.framing = Framing()
        self.deadline = time.monotonic() + idle_seconds
        self.lingering = False
        self.opened = time.monotonic()
        self.closed = False


class BoundedWorker(ThreadWorker):
    """gunicorn's threaded worker, with requests read whole in the event loop (see above)."""

    request_seconds = 10.0
    handler_timeout_seconds = 0  # functions-framework's THREADED_TIMEOUT_ENABLED, if asked

    def init_process(self) -> None:
        self.request_seconds = config.get("SERVE_REQUEST_SECONDS")
        self._waiting: set[Connection] = set()  # in the poller: reading, idle or lingering
        self._busy = 0  # connections whose request a thread is serving
        self._next_sweep = 0.0
        # In this process: what the hooks make is never forked again.
        for hook in process_hooks.start_hooks():
            try:
                hook()
            except Exception as exc:  # the worker still serves; the hook runs again on use
                log.error("worker start hook failed: %s", type(exc).__name__)
        super().init_process()

    def run(self) -> None:
        self.poller.register(
            self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks
        )
        self.set_accept_enabled(True)
        while self.alive:
            self.notify()
            can_accept = self.nr_conns < self.worker_connections
            if can_accept != self._accepting:
                self.set_accept_enabled(can_accept)
            self.wait_for_and_dispatch_events(timeout=SWEEP_SECONDS)
            if not self.is_parent_alive():
                break
            self._sweep()
        self._drain()

    def _drain(self) -> None:
        """Stop accepting, finish what is in flight (6 s at most), flush, close.

        A connection the kernel already accepted for us is in flight too (its client has
        sent, or is sending, a request): it is taken from the backlog, not dropped with it.
        """
        stop_by = time.monotonic() + SHUTDOWN_SECONDS
        for listener in self.sockets:
            while self.nr_conns < self.worker_connections and self.accept(listener):
                pass
        self.set_accept_enabled(False)
        self.wait_for_and_dispatch_events(timeout=0)  # read what the taken ones have sent
        for conn in list(self._waiting):
            if not conn.data or conn.lingering:
                self._close(conn)
            else:
                conn.deadline = min(conn.deadline, stop_by)
        log.info(
            "stopping: %d request(s) still arriving, %d being answered",
            sum(1 for conn in self._waiting if not conn.lingering), self._busy,
        )  # fmt: skip
        while (self._busy or self._reading()) and time.monotonic() < stop_by:
            self.notify()
            self.wait_for_and_dispatch_events(timeout=0.05)
            self._sweep(force=True)
        process_hooks.run_shutdown_hooks()
        for conn in list(self._waiting):
            self._close(conn)
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def _reading(self) -> bool:
        return any(conn.data and not conn.lingering for conn in self._waiting)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGINT or SIGQUIT: gunicorn's immediate exit, with the window flushed first."""
        process_hooks.run_shutdown_hooks()
        super().handle_quit(sig, frame)

    def accept(self, listener: socket.socket) -> bool:
        """Take one connection from the backlog; False when there is none."""
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return False
        self.nr_conns += 1
        sock.setblocking(False)
        conn = Connection(sock, client, listener.getsockname(), NEW_CONNECTION_IDLE_SECONDS)
        self._wait(conn)
        if len(self._waiting) > WAITING_CONNECTIONS:
            self._evict()
        return True

    def _evict(self) -> None:
        """Make room: drop the connection open longest, one lingering after its answer first.

        Not "an idle one first": a client's new connection is idle until its bytes are
        read, and would be the one dropped whenever stalled senders held every place.
        """
        lingering = [c for c in self._waiting if c.lingering]
        victim = min(lingering or self._waiting, key=lambda conn: conn.opened)
        if victim.data and not victim.lingering:
            log.warning("request refused by the server: too many connections waiting (503)")
            busy = Refused(503, "server", "has too many connections waiting; try again")
            self._send_now(victim, refusal_bytes(busy, "Retry-After: 1\r\n"))
        self._close(victim)

    def _wait(self, conn: Connection) -> None:
        self._waiting.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _unwait(self, conn: Connection) -> None:
        self._waiting.discard(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _on_readable(self, conn: Connection, _sock: Any) -> None:
        try:
            received = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            received = b""
        if not received:  # the client closed (or reset) its side
            self._close(conn)
            return
        if conn.lingering:
            return  # read and dropped: closing now would reset the answer on its way
        if not conn.data:
            conn.deadline = time.monotonic() + self.request_seconds
        conn.data += received
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        """Hand the request to a thread once it is whole; refuse it if it cannot be."""
        waited_for_head = conn.framing.head_end is None
        try:
            end = conn.framing.end(conn.data)
        except Refused as refusal:
            self._refuse(conn, refusal)
            return
        if end is None:
            head_just_read = waited_for_head and conn.framing.head_end is not None
            if head_just_read and conn.framing.expects_continue:
                self._send_now(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        raw = bytes(conn.data[:end])
        del conn.data[:end]
        framing, conn.framing = conn.framing, Framing()
        self._unwait(conn)
        self._busy += 1
        future = self.tpool.submit(self._serve, conn, raw, framing.expects_continue)
        future.add_done_callback(lambda done: self.method_queue.defer(self._served, conn, done))

    def _serve(self, conn: Connection, raw: bytes, continue_sent: bool) -> bool:
        """Serve one whole request (in a thread); True when the connection may be reused."""
        req = None
        try:
            conn.sock.settimeout(SEND_SECONDS)
            parser = http.get_parser(self.cfg, iter([raw]), conn.client)
            req = next(parser)
            if continue_sent:
                req._expected_100_continue = False
            if self.handler_timeout_seconds:
                from functions_framework.request_timeout import ThreadingTimeout

                with ThreadingTimeout(self.handler_timeout_seconds):
                    keepalive = self.handle_request(req, conn)
            else:
                keepalive = self.handle_request(req, conn)
            return bool(keepalive) and parser.finish_body()
        except StopIteration:
            return False
        except http_errors.NoMoreData as exc:  # an OSError, but the request's fault
            self.handle_error(req, conn.sock, conn.client, exc)
            return False
        except OSError:  # the client went away, or stopped reading its answer
            return False
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
            return False

    def _served(self, conn: Connection, done: Any) -> None:
        self._busy -= 1
        try:
            keepalive = not done.cancelled() and done.result()
        except Exception:
            keepalive = False
        if not keepalive or not self.alive:
            self._close(conn, linger=True)
            return
        conn.sock.setblocking(False)
        if conn.data:  # the client sent its next request behind this one
            conn.deadline = time.monotonic() + self.request_seconds
            self._wait(conn)
            self._advance(conn)
        else:
            conn.deadline = time.monotonic() + self.cfg.keepalive
            self._wait(conn)

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        """Answer an error gunicorn raised as JSON; log its type only (its text quotes)."""
        refusal = refusal_for(exc)
        level = logging.ERROR if refusal.status >= 500 else logging.WARNING
        log.log(level, "request refused by the server: %s (%d)", type(exc).__name__, refusal.status)
        with contextlib.suppress(OSError):
            client.sendall(refusal_bytes(refusal))

    def _refuse(self, conn: Connection, refusal: Refused) -> None:
        log.warning("request refused by the server: %s (%d)", refusal.field, refusal.status)
        self._send_now(conn, refusal_bytes(refusal))
        self._close(conn, linger=True)

    @staticmethod
    def _send_now(conn: Connection, data: bytes) -> None:
        """Send a short answer from the event loop; a client that cannot take it loses it."""
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _close(self, conn: Connection, linger: bool = False) -> None:
        """Close now, or after a short linger that reads and drops what the client still sends.

        Closing a socket with unread bytes in it resets the connection, and the client may
        then lose the answer it was just sent.
        """
        if conn.closed:
            return
        if linger and not conn.lingering:
            try:
                conn.sock.shutdown(socket.SHUT_WR)
                conn.sock.setblocking(False)
            except OSError:
                linger = False
            if linger:
                conn.lingering = True
                conn.deadline = time.monotonic() + LINGER_SECONDS
                if conn not in self._waiting:
                    self._wait(conn)
                return
        self._unwait(conn)
        conn.closed = True
        with contextlib.suppress(OSError):
            conn.sock.close()
        self.nr_conns -= 1

    def _sweep(self, force: bool = False) -> None:
        """Time out what waited too long: 408 for a request begun, silence for an idle one."""
        now = time.monotonic()
        if now < self._next_sweep and not force:
            return
        self._next_sweep = now + SWEEP_SECONDS
        for conn in [c for c in self._waiting if c.deadline <= now]:
            if conn.data and not conn.lingering:
                seconds = f"{self.request_seconds:g}"
                self._refuse(conn, Refused(408, "request", f"did not arrive within {seconds} s"))
            else:
                self._close(conn)


class TimedBoundedWorker(BoundedWorker):
    """BoundedWorker with functions-framework's per-request timeout (THREADED_TIMEOUT_ENABLED)."""

    def init_process(self) -> None:
        from functions_framework._http import gunicorn as ff_gunicorn

        self.handler_timeout_seconds = ff_gunicorn.TIMEOUT_SECONDS or 0
        super().init_process()


def gunicorn_settings(timed: bool) -> dict[str, Any]:
    """What ``install`` adds to functions-framework's gunicorn settings."""
    worker = TimedBoundedWorker if timed else BoundedWorker
    return {
        "worker_class": f"{__name__}.{worker.__name__}",
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_HEADER_FIELDS,
        "limit_request_field_size": LIMIT_HEADER_FIELD_BYTES,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "worker_connections": WORKER_CONNECTIONS,
    }


def install() -> None:
    """Make functions-framework's next gunicorn server use these bounds (idempotent)."""
    from functions_framework._http import gunicorn as ff_gunicorn

    base = ff_gunicorn.GunicornApplication
    if getattr(base, "bounded", False):
        return

    class BoundedApplication(base):
        bounded = True

        def load_config(self) -> None:
            super().load_config()
            timed = str(self.options.get("worker_class", "")).endswith("TimeoutSupport")
            for key, value in gunicorn_settings(timed).items():
                self.cfg.set(key, value)

    ff_gunicorn.GunicornApplication = BoundedApplication
