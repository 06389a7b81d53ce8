"""The HTTP server: waitress, refusing hostile requests before their bodies.

waitress reads a request's whole body (into a temporary file past
``inbuf_overflow``) before it calls the app. Here its request parser asks the
``BodyGate`` as soon as the headers are complete; a request the app refuses
whatever its body says is handed to the app at once, without its body, and
the connection is closed after the answer. Requests the gate lets through
keep waitress's behaviour (100-continue, spooling).

The channel adds what slow clients need: a deadline for a request's headers
(``header_timeout``, counted from the request's first byte, not reset by each
byte), a cap on the connections of one client address
(``connections_per_address``; waitress's ``trusted_proxy`` is exempt), and a
lingering close as nginx does it (``lingering_time``, ``lingering_timeout``):
after refusing a request whose client may still be sending, the server shuts
its write side and discards what arrives for a while, so the client reads the
answer instead of a connection reset.

``use = egg:modelhub#waitress`` in the ``[server:main]`` section of an ini
file runs this server; the settings above go in that section beside
waitress's own.
"""

from __future__ import annotations

import io
import json
import logging
import resource
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, BinaryIO

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.server import create_server as waitress_server
from waitress.task import WSGITask
from waitress.utilities import RequestEntityTooLarge

from entrypoints.web.gate import BodyGate

log = logging.getLogger(__name__)

# The environ key set on a request handed over without its body.
WITHHELD_KEY = "modelhub.body_withheld"
RETRY_AFTER = 10  # seconds, for a client refused as over its address's cap


@dataclass(frozen=True)
class ServerLimits:
    """Our settings of the ``[server:main]`` section (waitress knows none)."""

    # Seconds a request's headers may take from its first byte (for the
    # first request of a connection, from the connection's opening).
    header_timeout: float = 30.0
    # Open connections one client address may hold; 0 for no cap.
    connections_per_address: int = 64
    # A lingering close lasts at most this long in all...
    lingering_time: float = 30.0
    # ...and ends once the client has sent nothing for this long.
    lingering_timeout: float = 5.0

    @classmethod
    def pop_from(cls, kw: dict[str, Any]) -> ServerLimits:
        """The settings found in ``kw`` (ini strings or numbers), removed from it."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name in kw:
                kind = int if field.type == "int" else float
                try:
                    values[field.name] = kind(kw.pop(field.name))
                except ValueError:
                    raise ValueError(f"{field.name} must be a number") from None
        return cls(**values)


class BodyWithheld(RuntimeError):
    """The app read a request body the server had withheld: the gate and the
    app disagree about that request, which is a bug."""


class WithheldBody(io.RawIOBase):
    """``wsgi.input`` of a withheld request: the bytes that arrived before
    the server stopped reading, then ``BodyWithheld``."""

    def __init__(self, arrived: BinaryIO, available: int) -> None:
        super().__init__()
        self.arrived = arrived
        self.available = available

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        if wanted == 0:
            return 0
        if self.available <= 0:
            raise BodyWithheld(
                "The app read a request body that the server withheld (entrypoints.web.gate)."
            )
        data = self.arrived.read(min(wanted, self.available))
        if not data:
            raise BodyWithheld("The withheld request body ended early.")
        self.available -= len(data)
        buffer[: len(data)] = data
        return len(data)


class GatedRequestParser(HTTPRequestParser):
    """waitress's parser, asking the gate once the headers are complete."""

    withheld = False
    available = 0  # body bytes handed to the app with a withheld request
    body_limit: int | None = None  # chunked bodies: most bytes worth reading

    def __init__(self, adj: Any, *, gate: BodyGate, channel: GatedChannel) -> None:
        super().__init__(adj)
        self.gate = gate
        self.channel = channel

    def received(self, data: bytes) -> int:
        if self.completed:
            return 0
        heading = not self.headers_finished
        consumed = super().received(data)
        if heading and self.headers_finished:
            self._judge()
        elif (
            self.body_limit is not None
            and not self.completed
            and self.body_rcv is not None
            and len(self.body_rcv) > self.body_limit
        ):
            # A chunked body past its limit: the app hears of its first
            # limit + 1 bytes, enough for its own "too large".
            self._withhold(self.body_limit + 1)
        if self.completed and self.error is not None:
            self.channel.close_gracefully()
        # A withheld request takes all it was given, so the channel never
        # parses body bytes as a new request.
        return len(data) if self.withheld else consumed

    def _judge(self) -> None:
        too_large = isinstance(self.error, RequestEntityTooLarge)
        if self.error is not None and not too_large:
            return
        if not too_large and (self.completed or self.body_rcv is None):
            return  # no body
        try:
            decision = self.gate.decide(
                self.command,
                path_info(self.path, self.adj.url_prefix),
                self.headers,
                None if self.chunked else self.content_length,
            )
        except Exception:
            # Failing open only costs the protection: the app still decides.
            log.exception("the body gate failed on %s %s", self.command, self.path)
            return
        if decision.withhold:
            self.error = None
            self._withhold(0)
        elif self.chunked:
            self.body_limit = decision.limit

    def _withhold(self, available: int) -> None:
        self.withheld = True
        self.available = available
        self.completed = True
        # HTTPChannel.send_continue would mark the request incomplete again.
        self.expect_continue = False
        self.connection_close = True
        self.headers["CONNECTION"] = "close"
        self.channel.close_gracefully()


def path_info(path: str, url_prefix: str) -> str:
    """``PATH_INFO`` as waitress's ``WSGITask.get_environment`` makes it."""
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    if url_prefix:
        if path == url_prefix:
            return ""
        if path.startswith(url_prefix + "/"):
            return path[len(url_prefix) :]
    return path


class GatedTask(WSGITask):
    """Hands a withheld request to the app with what arrived of its body."""

    def get_environment(self) -> dict[str, Any]:
        if self.environ is not None:
            return self.environ
        environ = super().get_environment()
        request = self.request
        if getattr(request, "withheld", False):
            environ["wsgi.input"] = WithheldBody(request.get_body_stream(), request.available)
            environ[WITHHELD_KEY] = True
        return environ


class AddressCensus:
    """Open connections per client address, against a cap."""

    def __init__(self, cap: int, exempt: frozenset[str]) -> None:
        self.cap = cap
        self.exempt = exempt
        self.counts: Counter[str] = Counter()
        self.refusing: set[str] = set()
        self.lock = threading.Lock()

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False if over the cap."""
        if self.cap <= 0 or address in self.exempt or "*" in self.exempt:
            return True
        with self.lock:
            if self.counts[address] >= self.cap:
                if address not in self.refusing:
                    self.refusing.add(address)
                    log.warning("%s holds %d connections: refusing more from it", address, self.cap)
                return False
            self.counts[address] += 1
            return True

    def release(self, address: str) -> None:
        with self.lock:
            self.counts[address] -= 1
            if self.counts[address] <= 0:
                del self.counts[address]
            if self.counts[address] < self.cap:
                self.refusing.discard(address)


class GatedChannel(HTTPChannel):
    """waitress's channel with the gated parser, a header deadline, a cap
    per client address and a lingering close.

    ``create_server`` makes a subclass with the class attributes set.
    """

    task_class = GatedTask
    gate: BodyGate
    limits: ServerLimits
    census: AddressCensus

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None):
        now = time.monotonic()
        self.head_started: float | None = now  # the first request starts at once
        self.discarding = False  # drop whatever else arrives
        self.linger = False  # close gracefully once the answer is out
        self.lingering = False
        self.linger_ends = self.linger_idle_ends = 0.0
        self.counted: str | None = None
        super().__init__(server, sock, addr, adj, map)
        self.parser_class = partial(GatedRequestParser, gate=self.gate, channel=self)
        address = addr[0] if server.family != getattr(socket, "AF_UNIX", None) else None
        if address is None or self.census.admit(address):
            self.counted = address
        else:
            self._refuse()

    # -- called by the parser, under the requests lock -----------------------

    def close_gracefully(self) -> None:
        """After this request's answer: read no more requests, linger, close."""
        self.discarding = True
        self.linger = True

    # -- the I/O loop ---------------------------------------------------------

    def received(self, data: bytes) -> bool:
        if self.discarding:
            return True
        if self.request is None and self.head_started is None:
            self.head_started = time.monotonic()
        result = super().received(data)
        if self.request is None or self.request.headers_finished:
            self.head_started = None
        return result

    def readable(self) -> bool:
        now = time.monotonic()
        if self.lingering:
            if now >= self.linger_ends or now >= self.linger_idle_ends:
                self.will_close = True
                return False
            return True
        if (
            self.head_started is not None
            and not self.requests
            and now - self.head_started > self.limits.header_timeout
        ):
            self.will_close = True
            return False
        return super().readable()

    def writable(self) -> bool:
        if self.lingering:
            return self.will_close
        return super().writable()

    def handle_read(self) -> None:
        if not self.lingering:
            super().handle_read()
            return
        try:
            data = self.recv(self.adj.recv_bytes)  # EOF closes the channel
        except OSError:
            self.handle_close()
            return
        if data:
            self.linger_idle_ends = time.monotonic() + self.limits.lingering_timeout

    def handle_close(self) -> None:
        if (
            self.linger
            and not self.lingering
            and not self.requests
            and not self.total_outbufs_len
            and self.socket is not None
        ):
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                # The answer is out; its FIN follows. Drain until the client
                # closes, goes quiet, or the time is up.
                now = time.monotonic()
                self.lingering = True
                self.will_close = self.close_when_flushed = False
                self.linger_ends = now + self.limits.lingering_time
                self.linger_idle_ends = now + self.limits.lingering_timeout
                return
        super().handle_close()

    def del_channel(self, map: Any = None) -> None:
        counted, self.counted = self.counted, None
        if counted is not None:
            self.census.release(counted)
        super().del_channel(map)

    def _refuse(self) -> None:
        body = json.dumps(
            {"detail": "Too many connections from this address; try again later."}
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Retry-After: {RETRY_AFTER}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        with self.outbuf_lock:
            self.outbufs[-1].append(head + body)
            self.total_outbufs_len += len(head) + len(body)
        self.close_gracefully()
        self.close_when_flushed = True


def create_server(app: Any, **kw: Any) -> BaseWSGIServer | MultiSocketServer:
    """waitress's ``create_server`` for the modelhub app, with the gated
    channel on every listening socket; ``kw`` are waitress's settings plus
    those of ``ServerLimits``."""
    registry = getattr(app, "registry", None)
    if registry is None:
        raise TypeError("the modelhub server needs the modelhub Pyramid app, not a wrapper")
    limits = ServerLimits.pop_from(kw)
    kw.setdefault("asyncore_use_poll", True)  # select() fails past 1024 descriptors
    socket_map: dict[int, Any] = {}
    server = waitress_server(app, map=socket_map, **kw)
    adj = server.adj
    exempt = frozenset(filter(None, [adj.trusted_proxy]))
    channel = type(
        "GatedChannel",
        (GatedChannel,),
        {
            "gate": BodyGate(registry),
            "limits": limits,
            "census": AddressCensus(limits.connections_per_address, exempt),
        },
    )
    for dispatcher in socket_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel
    _allow_descriptors(adj.connection_limit)
    return server


def _allow_descriptors(connection_limit: int) -> None:
    """Raise the soft limit on open files so ``connection_limit`` connections
    fit, each with a spooled body or an open model file."""
    wanted = 2 * connection_limit + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        if ceiling < wanted:
            log.warning(
                "open files are limited to %d: connection_limit %d may not be reached",
                ceiling,
                connection_limit,
            )


def serve_paste(app: Any, global_conf: dict[str, Any], **kw: Any) -> int:
    """``use = egg:modelhub#waitress``: serve ``app`` until interrupted."""
    server = create_server(app, **kw)
    server.print_listen("Serving on http://{}:{}")
    server.run()
    return 0
