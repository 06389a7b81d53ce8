"""``/v1/frameworks``, ``/v1/domains`` and ``/v1/licences`` (also ``licenses``)."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from entrypoints.web.bodies import json_body, validated
from entrypoints.web.schemas import FRAMEWORK_BODY, LICENCE_BODY, SubdescriptorsBody
from entrypoints.web.serializers import domain_json, framework_json, licence_json
from entrypoints.web.views import created, no_content, path_pk

# -- frameworks ---------------------------------------------------------------


@view_config(route_name="frameworks.list", request_method="POST", renderer="json", read_only=True)
def list_frameworks(request: Request) -> list:
    spec = json_body(request, optional=True)
    return [framework_json(f) for f in request.services.frameworks.list(request.identity, spec)]


@view_config(route_name="frameworks.create", request_method="POST", renderer="json")
def create_framework(request: Request) -> object:
    body = validated(request, FRAMEWORK_BODY)
    framework = request.services.frameworks.create(request.identity, body)
    return created(request, framework_json(framework))


@view_config(route_name="frameworks.item", request_method="GET", renderer="json", read_only=True)
def retrieve_framework(request: Request) -> dict:
    framework = request.services.frameworks.retrieve(request.identity, path_pk(request))
    return framework_json(framework)


@view_config(route_name="frameworks.item", request_method=("PUT", "PATCH"), renderer="json")
def update_framework(request: Request) -> dict:
    body = validated(request, FRAMEWORK_BODY)
    framework = request.services.frameworks.update(
        request.identity, path_pk(request), body, partial=request.method == "PATCH"
    )
    return framework_json(framework)


@view_config(route_name="frameworks.item", request_method="DELETE")
def destroy_framework(request: Request) -> object:
    request.services.frameworks.destroy(request.identity, path_pk(request))
    return no_content(request)


# -- domains ------------------------------------------------------------------


@view_config(route_name="domains.list", request_method="POST", renderer="json", read_only=True)
def list_domains(request: Request) -> list:
    spec = json_body(request, optional=True)
    return [domain_json(d) for d in request.services.domains.list(request.identity, spec)]


@view_config(route_name="domains.item", request_method="GET", renderer="json", read_only=True)
def retrieve_domain(request: Request) -> dict:
    return domain_json(request.services.domains.retrieve(request.identity, path_pk(request)))


# -- licences (both spellings) ------------------------------------------------


@view_config(route_name="licences.list", request_method="POST", renderer="json", read_only=True)
@view_config(route_name="licenses.list", request_method="POST", renderer="json", read_only=True)
def list_licences(request: Request) -> list:
    spec = json_body(request, optional=True)
    return [licence_json(x) for x in request.services.licences.list(request.identity, spec)]


@view_config(route_name="licences.create", request_method="POST", renderer="json")
@view_config(route_name="licenses.create", request_method="POST", renderer="json")
def create_licence(request: Request) -> object:
    body = validated(request, LICENCE_BODY)
    return created(request, licence_json(request.services.licences.create(request.identity, body)))


@view_config(route_name="licences.item", request_method="GET", renderer="json", read_only=True)
@view_config(route_name="licenses.item", request_method="GET", renderer="json", read_only=True)
def retrieve_licence(request: Request) -> dict:
    return licence_json(request.services.licences.retrieve(request.identity, path_pk(request)))


@view_config(route_name="licences.item", request_method=("PUT", "PATCH"), renderer="json")
@view_config(route_name="licenses.item", request_method=("PUT", "PATCH"), renderer="json")
def update_licence(request: Request) -> dict:
    body = validated(request, LICENCE_BODY)
    licence = request.services.licences.update(
        request.identity, path_pk(request), body, partial=request.method == "PATCH"
    )
    return licence_json(licence)


@view_config(route_name="licences.item", request_method="DELETE")
@view_config(route_name="licenses.item", request_method="DELETE")
def destroy_licence(request: Request) -> object:
    request.services.licences.destroy(request.identity, path_pk(request))
    return no_content(request)


@view_config(route_name="licences.subdescriptors", request_method="PATCH", renderer="json")
@view_config(route_name="licenses.subdescriptors", request_method="PATCH", renderer="json")
def edit_licence_subdescriptors(request: Request) -> dict:
    body = validated(request, SubdescriptorsBody())
    licence = request.services.licences.edit_subdescriptors(
        request.identity, path_pk(request), body
    )
    return licence_json(licence)
