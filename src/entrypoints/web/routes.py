"""Every route of the API, in one place, with what its requests carry.

Each pattern also matches with a trailing slash, as the UFDL server does.
Path primary keys are digits without a leading zero, so ``/v1/frameworks/abc``
and ``/v1/frameworks/01`` are 404s.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyramid.config import Configurator
from pyramid.registry import Registry

PK = r"{pk:[1-9]\d*}"
SLASH = "{trailing_slash:/?}"


@dataclass(frozen=True)
class Route:
    """A path, and what the server may check of a request to it from its
    headers alone (``entrypoints.web.gate``)."""

    pattern: str
    # Answered without an access token: logging in, and the API document.
    public: bool = False
    # The methods answered without one on a route that is not public.
    public_methods: frozenset[str] = frozenset()
    # The method whose body is (part of) a model file, sent by an admin, up
    # to the size limit; every other body is JSON of at most
    # ``bodies.MAX_JSON_BODY`` bytes.
    upload: str | None = None


ROUTES: dict[str, Route] = {
    "openapi": Route("/v1/openapi.json", public=True),
    "healthz": Route("/healthz", public=True),
    # Public unless ``modelhub.metrics`` says ``admin`` (its view checks).
    "metrics": Route("/metrics", public=True),
    "stats": Route("/v1/stats"),
    "auth.obtain": Route("/v1/auth/obtain", public=True),
    "auth.refresh": Route("/v1/auth/refresh", public=True),
    "auth.verify": Route("/v1/auth/verify", public=True),
    # Asked by a reverse proxy (nginx auth_request) before it passes an upload.
    "auth.check_upload": Route("/v1/auth/check-upload"),
    "models.list": Route("/v1/pretrained-models/list"),
    "models.create": Route("/v1/pretrained-models/create"),
    "models.item": Route(f"/v1/pretrained-models/{PK}"),
    "models.data": Route(f"/v1/pretrained-models/{PK}/data", upload="POST"),
    "models.download": Route(f"/v1/pretrained-models/{PK}/download"),
    "models.fetch": Route(f"/v1/pretrained-models/{PK}/fetch"),
    "models.hard": Route(f"/v1/pretrained-models/{PK}/hard"),
    "models.reinstate": Route(f"/v1/pretrained-models/{PK}/reinstate"),
    "frameworks.list": Route("/v1/frameworks/list"),
    "frameworks.create": Route("/v1/frameworks/create"),
    "frameworks.item": Route(f"/v1/frameworks/{PK}"),
    "domains.list": Route("/v1/domains/list"),
    "domains.item": Route(f"/v1/domains/{PK}"),
    # Resumable uploads (tus): the protocol's discovery (OPTIONS) needs no login.
    "uploads": Route("/v1/uploads", public_methods=frozenset({"OPTIONS"})),
    "uploads.item": Route("/v1/uploads/{upload_id}", upload="PATCH"),
    "users.list": Route("/v1/users/list"),
    "users.create": Route("/v1/users/create"),
    "users.item": Route(f"/v1/users/{PK}"),
    # Any segment not all digits is a username (registered after the others,
    # so "list" and "create" keep their meaning).
    "users.by_name": Route(r"/v1/users/{username:[^/]*[^/0-9][^/]*}"),
}

# Licences answer under both spellings.
for _spelling in ("licences", "licenses"):
    ROUTES.update(
        {
            f"{_spelling}.list": Route(f"/v1/{_spelling}/list"),
            f"{_spelling}.create": Route(f"/v1/{_spelling}/create"),
            f"{_spelling}.item": Route(f"/v1/{_spelling}/{PK}"),
            f"{_spelling}.subdescriptors": Route(f"/v1/{_spelling}/{PK}/subdescriptors"),
        }
    )


def includeme(config: Configurator) -> None:
    for name, route in ROUTES.items():
        config.add_route(name, route.pattern + SLASH)


def view_methods(registry: Registry, route_name: str) -> frozenset[str] | None:
    """The methods the route's views answer, HEAD with GET (empty for an
    unknown route); None when a view answers any method."""
    introspector = registry.introspector
    route = introspector.get("routes", route_name)
    if route is None:
        return frozenset()
    methods: set[str] = set()
    for related in introspector.related(route):
        if related.category_name != "views":
            continue
        wanted = related["request_methods"]
        if not wanted:
            return None
        methods.update([wanted] if isinstance(wanted, str) else wanted)
    if "GET" in methods:
        methods.add("HEAD")
    return frozenset(methods)
