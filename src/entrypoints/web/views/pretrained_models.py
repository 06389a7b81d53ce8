"""``/v1/pretrained-models``: metadata, soft/hard delete, files."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from entrypoints.web import REGISTRY_KEY
from entrypoints.web.bodies import json_body, validated
from entrypoints.web.downloads import file_response
from entrypoints.web.schemas import MODEL_BODY, DownloadBody
from entrypoints.web.serializers import model_json
from entrypoints.web.uploads import upload_stream
from entrypoints.web.views import created, no_content, path_pk


@view_config(route_name="models.list", request_method="POST", renderer="json", read_only=True)
def list_models(request: Request) -> list:
    spec = json_body(request, optional=True)
    return [model_json(m) for m in request.services.models.list_records(request.identity, spec)]


@view_config(route_name="models.create", request_method="POST", renderer="json")
def create_model(request: Request) -> object:
    body = validated(request, MODEL_BODY)
    return created(request, model_json(request.services.models.create(request.identity, body)))


@view_config(route_name="models.item", request_method="GET", renderer="json", read_only=True)
def retrieve_model(request: Request) -> dict:
    return model_json(request.services.models.retrieve_record(request.identity, path_pk(request)))


@view_config(route_name="models.item", request_method=("PUT", "PATCH"), renderer="json")
def update_model(request: Request) -> dict:
    body = validated(request, MODEL_BODY)
    model = request.services.models.update(
        request.identity, path_pk(request), body, partial=request.method == "PATCH"
    )
    return model_json(model)


@view_config(route_name="models.item", request_method="DELETE")
def soft_delete_model(request: Request) -> object:
    request.services.models.soft_delete(request.identity, path_pk(request))
    return no_content(request)


@view_config(route_name="models.reinstate", request_method="DELETE", renderer="json")
def reinstate_model(request: Request) -> dict:
    return model_json(request.services.models.reinstate(request.identity, path_pk(request)))


@view_config(route_name="models.hard", request_method="DELETE", renderer="json")
def hard_delete_model(request: Request) -> dict:
    return model_json(request.services.models.hard_delete(request.identity, path_pk(request)))


@view_config(route_name="models.data", request_method="POST", renderer="json")
def set_model_file(request: Request) -> dict:
    actor, pk = request.identity, path_pk(request)
    body_dir = request.registry[REGISTRY_KEY].settings.proxy_body_dir
    stream, declared_size = upload_stream(request, body_dir)
    return model_json(request.services.models.set_file(actor, pk, stream, declared_size))


@view_config(route_name="models.data", request_method="DELETE", renderer="json")
def delete_model_file(request: Request) -> dict:
    return model_json(request.services.models.delete_file(request.identity, path_pk(request)))


@view_config(route_name="models.fetch", request_method="POST", renderer="json")
def fetch_model_file(request: Request) -> dict:
    model, stored = request.services.models.fetch(request.identity, path_pk(request))
    if not stored:
        request.response.status = 202
    return model_json(model)


@view_config(route_name="models.download", request_method="POST")
def download_model(request: Request) -> Response:
    body = validated(request, DownloadBody(), optional=True)
    download = request.services.models.download(
        request.identity, path_pk(request), body["filetype"], body["params"]
    )
    return file_response(request, download)


@view_config(route_name="models.download", request_method="GET")
def download_model_get(request: Request) -> Response:
    download = request.services.models.download(request.identity, path_pk(request))
    return file_response(request, download)
