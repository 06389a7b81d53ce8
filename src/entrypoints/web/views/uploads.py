"""``/v1/uploads``: resumable uploads of model files, the tus 1.0.0 protocol
(``entrypoints.web.tus`` reads and writes its headers)."""

from __future__ import annotations

from pyramid.events import NewResponse, subscriber
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from entrypoints.web import REGISTRY_KEY, tus


@subscriber(NewResponse)
def say_tus_resumable(event: NewResponse) -> None:
    """Every answer of the protocol's routes, errors included, names its version."""
    route = getattr(event.request, "matched_route", None)
    if route is not None and route.name in tus.ROUTE_NAMES:
        event.response.headers["Tus-Resumable"] = tus.VERSION


@view_config(route_name="uploads", request_method="OPTIONS")
def describe_uploads(request: Request) -> Response:
    return tus.capabilities(request.registry[REGISTRY_KEY].settings.max_file_size)


@view_config(route_name="uploads", request_method="POST", decorator=tus.resumable)
def create_upload(request: Request) -> Response:
    asked = tus.creation(request)
    upload = request.services.uploads.create(
        request.identity, asked.model, asked.length, asked.filename
    )
    return tus.created(request, upload)


@view_config(route_name="uploads.item", request_method="HEAD", decorator=tus.resumable)
def upload_status(request: Request) -> Response:
    upload_id = request.matchdict["upload_id"]
    return tus.status(request.services.uploads.status(request.identity, upload_id))


@view_config(route_name="uploads.item", request_method="PATCH", decorator=tus.resumable)
def append_to_upload(request: Request) -> Response:
    sent = tus.part(request)
    progress = request.services.uploads.append(
        request.identity,
        request.matchdict["upload_id"],
        sent.offset,
        sent.body,
        sent.length,
        sent.checksum,
    )
    return tus.appended(progress)


@view_config(route_name="uploads.item", request_method="DELETE", decorator=tus.resumable)
def terminate_upload(request: Request) -> Response:
    request.services.uploads.terminate(request.identity, request.matchdict["upload_id"])
    return tus.terminated()
