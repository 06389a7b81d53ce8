"""What the server may decide about a request from its headers alone.

A ``BodyGate`` tells the HTTP server, as soon as a request's headers are
complete, whether its body must be withheld: not read at all, because the app
refuses the request whatever the body says. The app still answers it (the
server hands it over without the body), so the status and JSON are the app's
own; the gate only spares the server from reading gigabytes first.

The gate resolves the request against the app's own routes and views and the
route table of ``entrypoints.web.routes``, and checks credentials (access
tokens, and session cookies with their CSRF token) by signature, expiry and
claims only: it never touches the database, since it runs in the server's
I/O thread. A route outside that table is a page, whose forms are small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry as PyramidRegistry

from domain.services.auth import TokenCheck
from entrypoints.web import REGISTRY_KEY, SESSIONS_KEY
from entrypoints.web.bodies import MAX_FORM_BODY, MAX_JSON_BODY
from entrypoints.web.credentials import HeaderCredentials, Presented
from entrypoints.web.routes import ROUTES, view_methods
from entrypoints.web.uploads import MULTIPART_FRAMING, least_file_size

# The only methods whose views read a body.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one request with a body."""

    # Do not read the body: the app refuses the request without it.
    withhold: bool
    # Most body bytes worth reading when the length is not declared (chunked):
    # past it, the rest is withheld. None: the server's own limit.
    limit: int | None = None


WITHHOLD = Decision(withhold=True)


@dataclass(frozen=True)
class _Resolved:
    name: str
    methods: frozenset[str] | None  # None: views for any method


class BodyGate:
    """Built once from the Pyramid app's registry; ``decide`` is thread-safe."""

    def __init__(self, registry: PyramidRegistry) -> None:
        composition = registry[REGISTRY_KEY]
        tokens = TokenCheck(composition.signer, composition.clock)
        self.credentials = HeaderCredentials(tokens, registry[SESSIONS_KEY])
        self.max_file_size: int | None = composition.settings.max_file_size
        mapper = registry.queryUtility(IRoutesMapper)
        self._routes = [
            (route.match, _Resolved(route.name, view_methods(registry, route.name)))
            for route in (mapper.get_routes() if mapper is not None else [])
        ]

    def decide(
        self, method: str, path: str, headers: Mapping[str, str], length: int | None
    ) -> Decision:
        """The verdict on a request with a body.

        ``path`` is the WSGI ``PATH_INFO``; ``headers`` are keyed as WSGI and
        waitress key them (``AUTHORIZATION``, ``CONTENT_TYPE``); ``length`` is
        the declared Content-Length, None for a chunked body.
        """
        resolved = self._resolve(path)
        if resolved is None:
            return WITHHOLD  # 404
        if resolved.methods is not None and method not in resolved.methods:
            return WITHHOLD  # 404 or 405
        if method not in BODY_METHODS:
            return WITHHOLD  # answered without reading a body
        route = ROUTES.get(resolved.name)
        if route is None:
            # A page's form: refused unless its length is declared and small.
            if length is None or length > MAX_FORM_BODY:
                return WITHHOLD
            return Decision(withhold=False, limit=MAX_FORM_BODY)
        presented = Presented.from_server(headers)
        if route.upload == method:
            if self.credentials.denies_admin(presented):
                return WITHHOLD  # 401 or 403 before the file is read
            return self._upload(headers.get("CONTENT_TYPE", ""), length)
        if not route.public and not self.credentials.may_call(presented):
            return WITHHOLD  # 401 (or 400 for a missing CSRF token) before the body is read
        if length is not None and length > MAX_JSON_BODY:
            return WITHHOLD  # 400 from the declared length
        return Decision(withhold=False, limit=MAX_JSON_BODY)

    def _upload(self, content_type: str, length: int | None) -> Decision:
        limit = self.max_file_size
        if limit is None or length is None:
            # A chunked file's size shows only as it is read: the app counts it.
            return Decision(withhold=False)
        least = least_file_size(content_type, length)
        if least is not None and least > limit:
            return WITHHOLD  # 413 from the declared length
        return Decision(withhold=False, limit=limit + MULTIPART_FRAMING)

    def _resolve(self, path: str) -> _Resolved | None:
        try:
            # As Pyramid reads PATH_INFO (WSGI strings are latin-1 decoded bytes).
            path = path.encode("latin-1").decode("utf-8") or "/"
        except UnicodeError:
            return None
        for match, resolved in self._routes:
            if match(path) is not None:
                return resolved
        return None
