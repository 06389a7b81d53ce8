"""Fetching imported files: local paths, and http(s) URLs with resume.

A download is a stream read chunk by chunk (memory stays flat). Every
request has a connect and a read timeout. When the connection breaks off,
or a request fails, it is retried a bounded number of times with a short
backoff; a retry after some bytes arrived asks for the rest only
(``Range: bytes=N-`` with ``If-Range``). A server that answers with the
whole file instead is read again from the start, skipping the bytes already
received, unless its validator (ETag or Last-Modified) shows that the file
changed: then the download fails rather than mixing two versions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit, urlunsplit

import requests

from domain.errors import SourceTimeout, SourceUnavailable
from domain.ports import Fetcher

# Smaller than ``domain.transfer.CHUNK_SIZE`` on purpose: only whole chunks
# count as received, since a read that breaks off half way loses the bytes it
# had (requests raises without handing them over). A connection that breaks
# every few hundred KiB still moves a download forward in 64 KiB steps, where
# 1 MiB chunks would never complete and the retries would run out.
FETCH_CHUNK_SIZE = 64 * 1024
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

Headers = Callable[[], Mapping[str, str]]
"""The headers of the next request, asked at each connection (so a token
can be renewed between the attempts of one download)."""


class HttpStatusError(SourceUnavailable):
    """The server answered a status that no retry will change."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


class HttpFetcher(Fetcher):
    def __init__(self, timeout: float, retries: int, backoff: float = 0.25) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def open(self, location: str, relative_to: str | None = None) -> BinaryIO:
        scheme = urlsplit(location).scheme.lower()
        if scheme in ("http", "https"):
            return cast(BinaryIO, _Download(self, location))
        if "://" in location:
            raise SourceUnavailable(
                f"Cannot fetch {location}: only http(s) URLs and local paths are supported."
            )
        path = Path(location).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = Path(relative_to) / path
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            return cast(BinaryIO, open(path, "rb"))
        except OSError as exc:
            raise SourceUnavailable(f"Cannot read {path}: {exc.strerror or exc}.") from None

    def download(
        self,
        url: str,
        *,
        headers: Headers | None = None,
        method: str = "GET",
        json: Any = None,
    ) -> BinaryIO:
        """``open`` of an http(s) URL with request headers, another method
        or a JSON body; the same resumes, retries and timeouts."""
        return cast(BinaryIO, _Download(self, url, headers, method, json))


class _Download:
    """A readable stream over one URL that resumes where it broke off."""

    def __init__(
        self,
        fetcher: HttpFetcher,
        url: str,
        headers: Headers | None = None,
        method: str = "GET",
        json: Any = None,
    ) -> None:
        self.fetcher = fetcher
        self.url = url
        self.shown = redacted(url)
        self.headers = headers
        self.method = method
        self.json = json
        self.session = requests.Session()
        self.received = 0
        self.total: int | None = None
        self.validator: str | None = None
        self.buffer = b""
        self.skip = 0  # bytes to drop from a response that restarted at 0
        self.done = False
        self.failures = 0
        self.response: requests.Response | None = None
        self.chunks: Any = None
        try:
            self._connect()
        except BaseException:
            self.session.close()
            raise

    # -- stream -----------------------------------------------------------

    def read(self, size: int = -1) -> bytes:
        while not self.buffer and not self.done:
            self._receive()
        if size is None or size < 0:
            parts = [self.buffer]
            self.buffer = b""
            while not self.done:
                self._receive()
                parts.append(self.buffer)
                self.buffer = b""
            return b"".join(parts)
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self.session.close()

    def __enter__(self) -> _Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------

    def _receive(self) -> None:
        try:
            chunk = next(self.chunks)
        except StopIteration:
            if self.total is not None and self.received < self.total:
                self._broken(f"the connection closed after {self.received} of {self.total} bytes")
            else:
                self.done = True
            return
        except (requests.RequestException, OSError) as exc:
            self._broken(_reason(exc, self.fetcher.timeout), _timed_out(exc))
            return
        if self.skip:
            dropped = min(self.skip, len(chunk))
            self.skip -= dropped
            chunk = chunk[dropped:]
            self.failures = 0
        if chunk:
            self.buffer = chunk
            self.received += len(chunk)
            self.failures = 0

    @property
    def size(self) -> int | None:
        """The length the server announced, when it did."""
        return self.total

    def _broken(self, reason: str, timed_out: bool = False) -> None:
        if self.response is not None:
            self.response.close()
        self._fail(reason, timed_out)
        self._connect()

    def _fail(self, reason: str, timed_out: bool = False) -> None:
        """Count a failure: give up past the retries, else wait a little."""
        self.failures += 1
        if self.failures > self.fetcher.retries:
            tries = "1 attempt" if self.failures == 1 else f"{self.failures} attempts"
            error = SourceTimeout if timed_out else SourceUnavailable
            raise error(f"Cannot fetch {self.shown}: {reason} (gave up after {tries}).")
        time.sleep(min(self.fetcher.backoff * 2 ** (self.failures - 1), 5.0))

    def _connect(self) -> None:
        timeout = self.fetcher.timeout
        while True:
            headers = {**(self.headers() if self.headers else {}), "Accept-Encoding": "identity"}
            if self.received:
                headers["Range"] = f"bytes={self.received}-"
                if self.validator:
                    headers["If-Range"] = self.validator
            try:
                response = self.session.request(
                    self.method,
                    self.url,
                    headers=headers,
                    json=self.json,
                    stream=True,
                    timeout=(timeout, timeout),
                )
            except requests.RequestException as exc:
                self._fail(_reason(exc, timeout), _timed_out(exc))
                continue
            status = response.status_code
            if status in RETRYABLE_STATUS:
                response.close()
                self._fail(f"HTTP {status} {response.reason}")
                continue
            if self.received and status == 206 and _range_start(response) == self.received:
                break
            if status == 200 and not self.received:
                length = response.headers.get("Content-Length")
                self.total = int(length) if length and length.isdigit() else None
                self.validator = _validator(response)
                break
            if status == 200 and self.validator and _validator(response) == self.validator:
                self.skip = self.received  # no Range support: read past what we have
                break
            response.close()
            if status in (200, 206):
                raise SourceUnavailable(
                    f"Cannot fetch {self.shown}: the download broke off after "
                    f"{self.received} bytes and cannot be resumed (the file changed, "
                    "or the server gives no ETag or Last-Modified to tell)."
                )
            raise HttpStatusError(
                f"Cannot fetch {self.shown}: HTTP {status} {response.reason}.", status
            )
        self.response = response
        self.chunks = response.iter_content(FETCH_CHUNK_SIZE)


def _validator(response: requests.Response) -> str | None:
    """What identifies this version of the file: a strong ETag, else the date."""
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _range_start(response: requests.Response) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL`` answer."""
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    if unit.strip().lower() != "bytes":
        return None
    start = rest.partition("-")[0].strip()
    return int(start) if start.isdigit() else None


def redacted(url: str) -> str:
    """``url`` fit for a message: without credentials or query (which may
    hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, requests.Timeout) or "timed out" in str(exc)


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s"
    if isinstance(exc, requests.ReadTimeout) or "Read timed out" in str(exc):
        return f"no data for {timeout:g} s"
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "Connection reset"):
        if known in text:
            return known.lower()
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return type(exc).__name__
