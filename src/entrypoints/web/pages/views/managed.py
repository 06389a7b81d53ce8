"""The admins' pages of frameworks, licences and users: a list with a form
to add one, an edit form, and removal (deactivation, for a user).

The three differ only in what ``Managed`` says of them, so their views are
one set, added once per resource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from domain.fields import Resource
from domain.resources import FRAMEWORK, LICENCE, USER
from entrypoints.bootstrap import Services
from entrypoints.web.pages.forms import FormState, entity_values, form_body, form_fields
from entrypoints.web.pages.views import FORM_ERRORS, done, form_values, refused
from entrypoints.web.views import path_pk


@dataclass(frozen=True)
class Managed:
    """One kind of record the admins manage on the pages."""

    key: str  # the route names' stem: pages.<key>s, pages.<key>_edit
    title: str
    singular: str
    resource: Resource
    service: Callable[[Services], Any]
    columns: tuple[str, ...]  # shown in the list, besides the key
    remove: str  # the service's method, and the route's last word
    remove_label: str
    defaults: tuple[tuple[str, Any], ...] = ()  # a new record's form

    def label(self, record: Any) -> str:
        return " ".join(str(getattr(record, name)) for name in self.resource.key)


MANAGED = (
    Managed(
        "framework",
        "Frameworks",
        "framework",
        FRAMEWORK,
        lambda s: s.frameworks,
        ("name", "version"),
        "delete",
        "Delete",
    ),
    Managed(
        "licence",
        "Licences",
        "licence",
        LICENCE,
        lambda s: s.licences,
        ("name", "url"),
        "delete",
        "Delete",
    ),
    Managed(
        "user",
        "Users",
        "user",
        USER,
        lambda s: s.users,
        ("username", "email", "is_staff", "is_active", "last_login"),
        "deactivate",
        "Deactivate",
        defaults=(("is_active", True),),
    ),
)
REMOVALS = {"delete": "destroy", "deactivate": "deactivate"}


class Views:
    """The views of one ``Managed`` resource."""

    def __init__(self, managed: Managed) -> None:
        self.managed = managed
        self.list_route = f"pages.{managed.key}s"
        self.edit_route = f"pages.{managed.key}_edit"

    def listing(self, request: Request, form: FormState | None = None) -> dict[str, Any]:
        service, actor = self.managed.service(request.services), request.identity
        return {
            "managed": self.managed,
            "records": service.list(actor),
            "form": form or FormState(dict(self.managed.defaults)),
            "fields": form_fields(self.managed.resource, creating=True),
        }

    def create(self, request: Request) -> Any:
        values = form_values(request)
        body = form_body(self.managed.resource, values, creating=True)
        try:
            record = self.managed.service(request.services).create(request.identity, body)
        except FORM_ERRORS as error:
            return self.listing(request, refused(request, values, error))
        notice = f"{self.managed.singular.capitalize()} {self.managed.label(record)} added."
        return done(request, self.list_route, notice)

    def edit_form(self, request: Request, form: FormState | None = None) -> dict[str, Any]:
        pk = path_pk(request)
        record = self.managed.service(request.services).for_change(request.identity, pk)
        return {
            "managed": self.managed,
            "record": record,
            "form": form or FormState(entity_values(self.managed.resource, record)),
            "fields": form_fields(self.managed.resource, creating=False),
        }

    def update(self, request: Request) -> Any:
        pk, values = path_pk(request), form_values(request)
        body = form_body(self.managed.resource, values, creating=False)
        try:
            self.managed.service(request.services).update(request.identity, pk, body)
        except FORM_ERRORS as error:
            return self.edit_form(request, refused(request, values, error))
        return done(request, self.list_route, "Changes saved.")

    def remove(self, request: Request) -> Any:
        service = self.managed.service(request.services)
        getattr(service, REMOVALS[self.managed.remove])(request.identity, path_pk(request))
        done_word = "deleted" if self.managed.remove == "delete" else "deactivated"
        return done(request, self.list_route, f"{self.managed.singular.capitalize()} {done_word}.")


def includeme(config: Configurator) -> None:
    for managed in MANAGED:
        views = Views(managed)
        listing = {"route_name": views.list_route, "renderer": "managed_list.jinja2"}
        editing = {"route_name": views.edit_route, "renderer": "managed_form.jinja2"}
        config.add_view(views.listing, request_method="GET", **listing)
        config.add_view(views.create, request_method="POST", **listing)
        config.add_view(views.edit_form, request_method="GET", **editing)
        config.add_view(views.update, request_method="POST", **editing)
        config.add_view(
            views.remove, route_name=f"pages.{managed.key}_{managed.remove}", request_method="POST"
        )
