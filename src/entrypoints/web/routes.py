"""Every route of the API, in one place.

Each pattern also matches with a trailing slash, as the UFDL server does.
Path primary keys are digits only, so ``/v1/frameworks/abc`` is a 404.
"""

from __future__ import annotations

from pyramid.config import Configurator

PK = r"{pk:\d+}"
SLASH = "{trailing_slash:/?}"

ROUTES: dict[str, str] = {
    "auth.obtain": "/v1/auth/obtain",
    "auth.refresh": "/v1/auth/refresh",
    "auth.verify": "/v1/auth/verify",
    "models.list": "/v1/pretrained-models/list",
    "models.create": "/v1/pretrained-models/create",
    "models.item": f"/v1/pretrained-models/{PK}",
    "models.data": f"/v1/pretrained-models/{PK}/data",
    "models.download": f"/v1/pretrained-models/{PK}/download",
    "models.hard": f"/v1/pretrained-models/{PK}/hard",
    "models.reinstate": f"/v1/pretrained-models/{PK}/reinstate",
    "frameworks.list": "/v1/frameworks/list",
    "frameworks.create": "/v1/frameworks/create",
    "frameworks.item": f"/v1/frameworks/{PK}",
    "domains.list": "/v1/domains/list",
    "domains.item": f"/v1/domains/{PK}",
    "users.list": "/v1/users/list",
    "users.create": "/v1/users/create",
    "users.item": f"/v1/users/{PK}",
    # Any segment not all digits is a username (registered after the others,
    # so "list" and "create" keep their meaning).
    "users.by_name": r"/v1/users/{username:[^/]*[^/0-9][^/]*}",
}

# Licences answer under both spellings.
for _spelling in ("licences", "licenses"):
    ROUTES.update(
        {
            f"{_spelling}.list": f"/v1/{_spelling}/list",
            f"{_spelling}.create": f"/v1/{_spelling}/create",
            f"{_spelling}.item": f"/v1/{_spelling}/{PK}",
            f"{_spelling}.subdescriptors": f"/v1/{_spelling}/{PK}/subdescriptors",
        }
    )


def includeme(config: Configurator) -> None:
    for name, pattern in ROUTES.items():
        config.add_route(name, pattern + SLASH)
