"""A real loopback HTTP server that answers one byte every 0.25 s: the downstream that drips.

Each byte arrives well within any per-read timeout, so only a deadline on the whole
answer ends a call to it. ``part="head"`` drips the status line and headers too (the
call never gets as far as a response object); ``part="body"`` sends the head at once
and then drips a body it promised in full.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal


class DrippingServer:
    """Answers every connection by dripping; records when each connection came."""

    def __init__(self, part: Literal["head", "body"] = "body", every: float = 0.25) -> None:
        self.part, self.every = part, every
        self.connections: list[float] = []  # time.monotonic() at each accept
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> DrippingServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections.append(time.monotonic())
            worker = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _drip(self, conn: socket.socket) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        body = b'{"model": {"run_id": "x"}, "padding": "' + b"." * 99_000
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small: a GET or a short JSON POST)
                if self.part == "body":
                    conn.sendall(head)
                    payload = body
                else:
                    payload = head + body
                for i in range(len(payload)):
                    if self._stop.wait(self.every):
                        return
                    conn.sendall(payload[i : i + 1])
            except OSError:
                return  # the caller cut the connection: what a deadline should do
