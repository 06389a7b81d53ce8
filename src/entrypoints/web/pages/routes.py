"""Every route of the pages, in one place (the API's are ``web.routes``).

The pages live outside ``/v1/``, so neither ever shadows the other; path
primary keys are digits, as the API's are.
"""

from __future__ import annotations

from pyramid.config import Configurator

from entrypoints.web.routes import PK

PAGE_ROUTES: dict[str, str] = {
    "pages.catalogue": "/",
    "pages.sign_in": "/sign-in",
    "pages.sign_out": "/sign-out",
    "pages.model_new": "/models/new",
    "pages.model": f"/models/{PK}",
    "pages.model_edit": f"/models/{PK}/edit",
    "pages.model_delete": f"/models/{PK}/delete",
    "pages.model_reinstate": f"/models/{PK}/reinstate",
    "pages.model_purge": f"/models/{PK}/purge",
    "pages.model_file_delete": f"/models/{PK}/file/delete",
    "pages.frameworks": "/frameworks",
    "pages.framework_edit": f"/frameworks/{PK}/edit",
    "pages.framework_delete": f"/frameworks/{PK}/delete",
    "pages.licences": "/licences",
    "pages.licence_edit": f"/licences/{PK}/edit",
    "pages.licence_delete": f"/licences/{PK}/delete",
    "pages.users": "/users",
    "pages.user_edit": f"/users/{PK}/edit",
    "pages.user_deactivate": f"/users/{PK}/deactivate",
}


def includeme(config: Configurator) -> None:
    for name, pattern in PAGE_ROUTES.items():
        config.add_route(name, pattern)
