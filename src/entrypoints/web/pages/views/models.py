"""A model's page, and the admins' forms and actions on models."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from domain.resources import PRETRAINED_MODEL
from entrypoints.web.pages.forms import FormState, entity_values, form_body, form_fields
from entrypoints.web.pages.snippets import download_snippets
from entrypoints.web.pages.views import FORM_ERRORS, done, form_values, refused
from entrypoints.web.views import path_pk


@view_config(route_name="pages.model", request_method="GET", renderer="model.jinja2")
def model_page(request: Request) -> dict[str, Any]:
    services, actor, pk = request.services, request.identity, path_pk(request)
    model = services.models.retrieve(actor, pk)
    return {
        "model": model,
        "usage": services.stats.of_model(actor, pk),
        "snippets": download_snippets(request.application_url, pk, actor.username),
        "download_url": request.route_path("models.download", pk=pk, trailing_slash=""),
    }


# The model form asks for what names the model first.
FORM_ORDER = ("name", "description", "framework", "domain", "licence", "url", "metadata")


def _form_page(request: Request, form: FormState, pk: int | None = None) -> dict[str, Any]:
    """The create or edit form, with the records its choices offer."""
    services, actor = request.services, request.identity
    choices = {
        "framework": [(f.pk, f"{f.name} {f.version}") for f in services.frameworks.list(actor)],
        "domain": [(d.name, d.description) for d in services.domains.list(actor)],
        "licence": [(x.name, x.name) for x in services.licences.list(actor)],
    }
    return {
        "form": form,
        "fields": form_fields(PRETRAINED_MODEL, creating=pk is None, first=FORM_ORDER),
        "choices": choices,
        "pk": pk,
        "model": services.models.retrieve(actor, pk) if pk is not None else None,
    }


@view_config(route_name="pages.model_new", request_method="GET", renderer="model_form.jinja2")
def new_model_form(request: Request) -> dict[str, Any]:
    request.services.models.authorise_change(request.identity)
    return _form_page(request, FormState())


@view_config(route_name="pages.model_new", request_method="POST", renderer="model_form.jinja2")
def create_model(request: Request) -> Any:
    values = form_values(request)
    body = form_body(PRETRAINED_MODEL, values, creating=True)
    try:
        model = request.services.models.create(request.identity, body)
    except FORM_ERRORS as error:
        return _form_page(request, refused(request, values, error))
    return done(request, "pages.model", f"Model {model.name} created.", pk=model.pk)


@view_config(route_name="pages.model_edit", request_method="GET", renderer="model_form.jinja2")
def edit_model_form(request: Request) -> dict[str, Any]:
    pk = path_pk(request)
    model = request.services.models.for_change(request.identity, pk)
    return _form_page(request, FormState(entity_values(PRETRAINED_MODEL, model)), pk)


@view_config(route_name="pages.model_edit", request_method="POST", renderer="model_form.jinja2")
def update_model(request: Request) -> Any:
    pk, values = path_pk(request), form_values(request)
    body = form_body(PRETRAINED_MODEL, values, creating=False)
    try:
        request.services.models.update(request.identity, pk, body)
    except FORM_ERRORS as error:
        return _form_page(request, refused(request, values, error), pk)
    return done(request, "pages.model", "Changes saved.", pk=pk)


# The one-button actions on a model: the service's method, and what it did.
ACTIONS = {
    "pages.model_delete": ("soft_delete", "Model deleted; an admin may reinstate it."),
    "pages.model_reinstate": ("reinstate", "Model reinstated."),
    "pages.model_file_delete": ("delete_file", "File deleted."),
}


@view_config(route_name="pages.model_delete", request_method="POST")
@view_config(route_name="pages.model_reinstate", request_method="POST")
@view_config(route_name="pages.model_file_delete", request_method="POST")
def act_on_model(request: Request) -> Any:
    method, notice = ACTIONS[request.matched_route.name]
    pk = path_pk(request)
    getattr(request.services.models, method)(request.identity, pk)
    return done(request, "pages.model", notice, pk=pk)


@view_config(route_name="pages.model_purge", request_method="GET", renderer="purge.jinja2")
def confirm_hard_delete(request: Request) -> dict[str, Any]:
    model = request.services.models.for_change(request.identity, path_pk(request), writable=False)
    return {"model": model}


@view_config(route_name="pages.model_purge", request_method="POST")
def hard_delete_model(request: Request) -> Any:
    model = request.services.models.hard_delete(request.identity, path_pk(request))
    return done(request, "pages.catalogue", f"Model {model.name} deleted for good.")
