"""The HTTP entrypoint: the Pyramid application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

import plaster
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.router import Router
from pyramid.tweens import INGRESS

from entrypoints.bootstrap import Registry, Services
from entrypoints.settings import integer, load_settings
from entrypoints.web.csrf import HEADER, csrf_applies
from entrypoints.web.reads import reads_only
from entrypoints.web.security import TokenOrSessionSecurityPolicy
from entrypoints.web.sessions import Sessions

log = logging.getLogger(__name__)

REGISTRY_KEY = "modelhub.registry"
SESSIONS_KEY = "modelhub.sessions"


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """The WSGI app for ``pserve``/waitress, built from the ini file."""
    registry = Registry(load_settings(settings, server_threads(global_config)))
    # Made once here, so that ``/healthz`` can tell a folder gone later (a
    # volume unmounted) from one not made yet.
    registry.settings.blob_root.mkdir(parents=True, exist_ok=True)
    if registry.settings.auto_migrate:
        added = registry.initialise_database()
        if added:
            log.info("database created and seeded (%d rows)", added)
    if not registry.has_admin():
        ini = os.path.basename(global_config.get("__file__") or "development.ini")
        log.warning(
            "No admin account yet. Create the first one with:\n"
            "    .venv/bin/modelhub -c %s user add admin --admin",
            ini,
        )
    return make_app(registry, settings)


def server_threads(global_config: dict[str, Any]) -> int | None:
    """The worker threads of the ini file's ``[server:main]``, if it says."""
    path = global_config.get("__file__")
    if not path:
        return None
    threads = plaster.get_settings(path, "server:main").get("threads")
    return integer("threads", threads) if threads else None


def make_app(registry: Registry, settings: dict[str, Any] | None = None) -> Router:
    """The app around an already built composition root (tests use this)."""
    settings = dict(settings or {})
    settings.setdefault("tm.manager_hook", "pyramid_tm.explicit_manager")
    settings.setdefault("tm.commit_veto", "pyramid_tm.default_commit_veto")
    # The transaction note would authenticate before the view could answer 401.
    settings.setdefault("tm.annotate_user", "false")
    metrics_access = settings.setdefault("modelhub.metrics", "public").strip().lower()
    if metrics_access not in ("public", "admin", "off"):
        raise ValueError(
            f"modelhub.metrics must be public, admin or off, not {settings['modelhub.metrics']!r}"
        )
    with Configurator(settings=settings) as config:
        config.registry[REGISTRY_KEY] = registry
        config.include("pyramid_tm")
        # Above everything, so it sees every answer, the exception views' too.
        config.add_tween("entrypoints.web.observe.observe_tween_factory", under=INGRESS)
        sessions = Sessions(registry.settings.jwt_key, registry.settings.session_lifetime)
        config.registry[SESSIONS_KEY] = sessions
        config.set_session_factory(sessions)
        config.set_security_policy(TokenOrSessionSecurityPolicy())
        config.set_default_csrf_options(require_csrf=True, header=HEADER, callback=csrf_applies)
        config.add_request_method(request_services, "services", reify=True)
        config.include("entrypoints.web.reads")
        config.include("entrypoints.web.routes")
        config.scan("entrypoints.web.views")
        config.scan("entrypoints.web.errors")
        config.include("entrypoints.web.pages")
        return config.make_wsgi_app()


def request_services(request: Request) -> Services:
    """The services on a session joined to this request's transaction."""
    registry: Registry = request.registry[REGISTRY_KEY]
    uow = registry.unit_of_work(request.tm, read_only=reads_only(request))
    request.add_finished_callback(lambda _request: uow.session.close())
    return registry.services(uow)
