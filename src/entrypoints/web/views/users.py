"""``/v1/users``: accounts, managed by admins, readable by their owner."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from entrypoints.web.bodies import json_body, validated
from entrypoints.web.schemas import USER_BODY
from entrypoints.web.serializers import user_json
from entrypoints.web.views import created, no_content, path_pk


@view_config(route_name="users.list", request_method="POST", renderer="json", read_only=True)
def list_users(request: Request) -> list:
    spec = json_body(request, optional=True)
    return [user_json(u) for u in request.services.users.list(request.identity, spec)]


@view_config(route_name="users.create", request_method="POST", renderer="json")
def create_user(request: Request) -> object:
    body = validated(request, USER_BODY)
    return created(request, user_json(request.services.users.create(request.identity, body)))


@view_config(route_name="users.item", request_method="GET", renderer="json", read_only=True)
def retrieve_user(request: Request) -> dict:
    return user_json(request.services.users.retrieve(request.identity, path_pk(request)))


@view_config(route_name="users.by_name", request_method="GET", renderer="json", read_only=True)
def user_by_name(request: Request) -> dict:
    username = request.matchdict["username"]
    return user_json(request.services.users.get_by_username(request.identity, username))


@view_config(route_name="users.item", request_method=("PUT", "PATCH"), renderer="json")
def update_user(request: Request) -> dict:
    body = validated(request, USER_BODY)
    user = request.services.users.update(
        request.identity, path_pk(request), body, partial=request.method == "PATCH"
    )
    return user_json(user)


@view_config(route_name="users.item", request_method="DELETE")
def deactivate_user(request: Request) -> object:
    request.services.users.deactivate(request.identity, path_pk(request))
    return no_content(request)
