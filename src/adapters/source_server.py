"""A running UFDL (or modelhub) server read through its REST API, the source
of ``modelhub migrate``.

It logs in with ``POST /v1/auth/obtain`` and sends the access token with
every call; a token about to expire (or refused) is renewed with the refresh
token, or by logging in again. List calls are retried a bounded number of
times when the connection fails or the server is briefly unavailable. Files
come through ``HttpFetcher``, so they stream with flat memory and resume
after a broken connection; the download is a ``GET`` (modelhub's extension,
which honours ``Range``), or the UFDL's ``POST`` where ``GET`` is refused.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any, BinaryIO

import requests

from adapters.http_fetch import RETRYABLE_STATUS, HttpFetcher, HttpStatusError
from domain.errors import SourceUnavailable
from domain.ports import SourceServer

# Renew the access token when it has less than this left (seconds).
TOKEN_MARGIN = 30


class HttpSourceServer(SourceServer):
    def __init__(
        self, url: str, username: str, password: str, fetcher: HttpFetcher, backoff: float = 0.25
    ) -> None:
        self.location = url.rstrip("/")
        self.login_name = username
        self.password = password
        self.fetcher = fetcher
        self.backoff = backoff
        self.session = requests.Session()
        self.access = ""
        self.refresh = ""
        self.expires: float | None = None
        self.download_method = "GET"
        self._usernames: dict[int, str | None] = {}
        self._login()

    # -- the port ------------------------------------------------------------

    def licences(self) -> list[Mapping[str, Any]]:
        return self._list("/v1/licences/list", {})

    def frameworks(self) -> list[Mapping[str, Any]]:
        return self._list("/v1/frameworks/list", {})

    def domains(self) -> list[Mapping[str, Any]]:
        return self._list("/v1/domains/list", {})

    def models(self) -> list[Mapping[str, Any]]:
        return self._list("/v1/pretrained-models/list", {"include_inactive": True})

    def username(self, pk: int) -> str | None:
        """The user's name; None when the source refuses to show it (a login
        that is not an admin sees only itself) or has no such user."""
        if pk not in self._usernames:
            response = self._call("GET", f"/v1/users/{pk}", accept=(403, 404))
            name = response.json().get("username") if response.status_code == 200 else None
            self._usernames[pk] = name if isinstance(name, str) else None
        return self._usernames[pk]

    def open_file(self, pk: int) -> BinaryIO:
        url = f"{self.location}/v1/pretrained-models/{pk}/download"
        if self.download_method == "GET":
            try:
                return self.fetcher.download(url, headers=self._headers)
            except HttpStatusError as exc:
                if exc.status != 405:
                    raise
                self.download_method = "POST"  # a UFDL server: POST only
        return self.fetcher.download(
            url, headers=self._headers, method="POST", json={"filetype": "data"}
        )

    def close(self) -> None:
        self.session.close()

    # -- calls ----------------------------------------------------------------

    def _list(self, path: str, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        found = self._call("POST", path, body).json()
        if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
            raise SourceUnavailable(f"{self.location}{path} did not answer a list of objects.")
        return found

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        accept: tuple[int, ...] = (),
        authenticated: bool = True,
    ) -> requests.Response:
        """The response of a call; retried when it could not be made or the
        server was briefly unavailable, once more with a new token when the
        token was refused. Another error status than ``accept`` raises."""
        url = f"{self.location}{path}"
        failures, renewed = 0, False
        while True:
            headers = dict(self._headers()) if authenticated else {}
            try:
                response = self.session.request(
                    method, url, json=body, headers=headers, timeout=self.fetcher.timeout
                )
            except requests.RequestException as exc:
                reason = f"cannot reach it ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    try:
                        response.json()
                    except ValueError:
                        raise SourceUnavailable(f"{url} did not answer JSON.") from None
                    return response
                if status in accept:
                    return response
                if status == 401 and authenticated and not renewed:
                    renewed = True
                    self._renew()
                    continue
                if status not in RETRYABLE_STATUS:
                    raise SourceUnavailable(f"{url} answered {status}: {_detail(response)}")
                reason = f"it answered {status}"
            failures += 1
            if failures > self.fetcher.retries:
                raise SourceUnavailable(f"{url}: {reason} (gave up after {failures} attempts).")
            time.sleep(min(self.backoff * 2 ** (failures - 1), 5.0))

    # -- tokens ---------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        """The authorisation of the next request, renewed when about to expire."""
        if self.expires is not None and self.expires - time.time() < TOKEN_MARGIN:
            self._renew()
        return {"Authorization": f"Bearer {self.access}"}

    def _login(self) -> None:
        body = {"username": self.login_name, "password": self.password}
        try:
            tokens = self._call("POST", "/v1/auth/obtain", body, authenticated=False).json()
        except SourceUnavailable as exc:
            raise SourceUnavailable(
                f"Cannot log in to {self.location} as {self.login_name!r}: {exc.detail}"
            ) from None
        self._take(tokens.get("access"), tokens.get("refresh"))

    def _renew(self) -> None:
        """A new access token from the refresh token, else a new login."""
        if self.refresh:
            response = self._call(
                "POST",
                "/v1/auth/refresh",
                {"refresh": self.refresh},
                accept=(400, 401),
                authenticated=False,
            )
            access = response.json().get("access") if response.status_code == 200 else None
            if isinstance(access, str):
                self._take(access, self.refresh)
                return
        self._login()

    def _take(self, access: Any, refresh: Any) -> None:
        if not isinstance(access, str) or not access:
            raise SourceUnavailable(f"{self.location} gave no access token.")
        self.access = access
        self.refresh = refresh if isinstance(refresh, str) else ""
        self.expires = _expiry(access)


def _expiry(token: str) -> float | None:
    """The ``exp`` claim of a JSON Web Token, read without checking it (the
    source checks it); None when the token does not say."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _detail(response: requests.Response) -> str:
    """The ``detail`` of an error answer, or its status text."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "error"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return json.dumps(body)[:200]
