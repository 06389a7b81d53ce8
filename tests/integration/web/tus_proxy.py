"""A TCP proxy in front of a test server that really cuts a connection: once
a given number of request bytes has passed through it, it closes both
sides of that connection, as a network failure would; every later
connection passes whole."""

from __future__ import annotations

import contextlib
import socket
import threading

BUFFER = 64 * 1024


class CuttingProxy:
    """Listens on a free port of 127.0.0.1 and forwards to ``port``."""

    def __init__(self, port: int, cut_after: int) -> None:
        self.target = ("127.0.0.1", port)
        self.cut_after = cut_after
        self.forwarded = 0  # request bytes passed on, in all
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="cutting-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink, counted in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pipe, args=(source, sink, counted, (client, upstream)), daemon=True
                ).start()

    def _pipe(
        self,
        source: socket.socket,
        sink: socket.socket,
        counted: bool,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        while True:
            try:
                data = source.recv(BUFFER)
            except OSError:
                data = b""
            cut = False
            if counted and data:
                data, cut = self._budget(data)
            if data:
                try:
                    sink.sendall(data)
                except OSError:
                    cut = True
            if not data or cut:
                for sock in pair:
                    _close(sock)
                return

    def _budget(self, data: bytes) -> tuple[bytes, bool]:
        """The part of ``data`` to pass on, and whether to cut right after it."""
        with self._lock:
            if self.cut.is_set() or self.forwarded + len(data) < self.cut_after:
                self.forwarded += len(data)
                return data, False
            data = data[: self.cut_after - self.forwarded]
            self.forwarded += len(data)
            self.cut.set()
            return data, True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
