"""A TCP proxy on loopback that cuts chosen requests mid-body, as a flaky network does.

Every connection is forwarded to the upstream; the ``cut``-th request that carries a
body (counted from 1 over the proxy's life) is closed on both sides after ``after_bytes``
bytes of it reached the upstream, so the upstream sees a started, unfinished upload.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    def __init__(self, upstream_port: int, cut: int, after_bytes: int = 200) -> None:
        self.upstream_port, self.cut, self.after_bytes = upstream_port, cut, after_bytes
        self.bodies = 0  # requests with a body seen so far
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        try:
            while data := client.recv(65536):
                cut_here = None
                if data[:5] in (b"POST ", b"PUT /", b"PATCH"):
                    with self._lock:
                        self.bodies += 1
                        if self.bodies == self.cut:
                            cut_here = self.after_bytes
                            self.cuts += 1
                if cut_here is not None:
                    upstream.sendall(data[:cut_here])
                    break
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
