"""The web pages: the catalogue, a model's page, sign-in, and the admins'
forms, rendered by the same app as the API and calling the same services.

Templates are Jinja2 (``templates/``); the CSS and the little JavaScript
are our own static files (``static/``), served with a long cache lifetime
and a query string that changes with their content. Nothing is fetched
from elsewhere at run time.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.events import BeforeRender
from pyramid.request import Request
from pyramid.static import QueryStringConstantCacheBuster

from domain.errors import DomainError
from domain.model import User
from domain.permissions import is_admin
from entrypoints.web.pages.views import NOTICES

STATIC = "entrypoints.web.pages:static/"
ONE_YEAR = 365 * 24 * 3600
FILTERS = ("human_size", "when", "data_state", "thousands")


def includeme(config: Configurator) -> None:
    settings = config.registry.settings
    settings.setdefault("jinja2.undefined", "strict")
    settings.setdefault("jinja2.trim_blocks", "true")
    settings.setdefault("jinja2.lstrip_blocks", "true")
    settings.setdefault(
        "jinja2.filters",
        "\n".join(f"{name} = entrypoints.web.pages.formatting:{name}" for name in FILTERS),
    )
    config.include("pyramid_jinja2")
    config.add_jinja2_search_path("entrypoints.web.pages:templates", name=".jinja2")
    config.add_static_view("static", STATIC, cache_max_age=ONE_YEAR)
    config.add_cache_buster(STATIC, QueryStringConstantCacheBuster(static_version()))
    config.add_request_method(page_user, "page_user", reify=True)
    config.add_subscriber(template_globals, BeforeRender)
    config.include("entrypoints.web.pages.routes")
    config.include("entrypoints.web.pages.errors")
    config.scan("entrypoints.web.pages.views")
    config.include("entrypoints.web.pages.views.managed")


def static_version() -> str:
    """A digest of every static file: their URLs change when they do."""
    digest = hashlib.sha256()
    for item in sorted(files("entrypoints.web.pages").joinpath("static").iterdir(), key=str):
        digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()[:12]


def template_globals(event: BeforeRender) -> None:
    """What every page's template may use: the signed-in user, the CSRF
    token for its forms, and the URLs of static files."""
    if not str(event.get("renderer_name", "")).endswith(".jinja2"):
        return
    request = event["request"]
    user = request.page_user
    event["user"] = user
    event["is_admin"] = user is not None and is_admin(user)
    event["csrf_token"] = get_csrf_token(request)
    event["static"] = lambda path: request.static_path(STATIC + path)
    session = request.session
    # Popped only when there is one: popping rewrites the session's cookie.
    event["notices"] = session.pop_flash(NOTICES) if session.peek_flash(NOTICES) else []


def page_user(request: Request) -> User | None:
    """The signed-in user of a page, or None (never an error)."""
    try:
        return request.identity
    except DomainError:
        return None
