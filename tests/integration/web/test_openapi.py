"""``GET /v1/openapi.json``: a valid OpenAPI 3.1 document of exactly the app's
routes and methods, whose schemas the app's real responses satisfy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
import webtest
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from pyramid.config import Configurator
from pyramid.registry import Registry
from referencing import Registry as SchemaRegistry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from domain import filters
from entrypoints.web.openapi import build_document, canonical_path
from entrypoints.web.pages.routes import PAGE_ROUTES
from entrypoints.web.routes import ROUTES, SLASH, Route
from tests.integration.web.conftest import PASSWORDS, Api

BASE = "/v1/pretrained-models"
DOCUMENT_URI = "urn:modelhub:openapi"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


# -- the document itself ------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_served_without_login_as_json(api: Api, document: dict[str, Any]) -> None:
    for path in ("/v1/openapi.json", "/v1/openapi.json/"):
        response = api.app.get(path, status=200)
        assert response.content_type == "application/json"
        assert response.json == document
    check(document, "/v1/openapi.json", "get", response)


def test_a_broken_document_fails_validation(document: dict[str, Any]) -> None:
    """The validator is not vacuous: a dangling reference is caught."""
    broken = build_document()
    broken["paths"][f"{BASE}/{{pk}}"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] = {"$ref": "#/components/schemas/Nothing"}
    with pytest.raises(Exception, match="Nothing"):
        validate(broken, cls=OpenAPIV31SpecValidator)


# -- coverage: exactly the app's routes and methods ---------------------------


def served_operations(registry: Registry) -> set[tuple[str, str]]:
    """(path, method) of every view bound to a route but the web pages' and
    their static files' (HTML for people, not the API), found by introspection (as
    ``routes.view_methods`` does); a view for any method shows as ``*``."""
    introspector = registry.introspector
    served = set()
    for route in introspector.get_category("routes"):
        introspectable = route["introspectable"]
        if introspectable["name"] in PAGE_ROUTES or introspectable["name"].startswith("__"):
            continue
        path = canonical_path(introspectable["pattern"].removesuffix(SLASH))
        for related in introspector.related(introspectable):
            if related.category_name != "views":
                continue
            methods = related["request_methods"] or "*"
            for method in [methods] if isinstance(methods, str) else methods:
                served.add((path, method.lower()))
    return served


def documented_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }


def test_documents_exactly_the_routes_and_methods_of_the_app(
    api: Api, document: dict[str, Any]
) -> None:
    served = served_operations(api.app.app.registry)
    assert len(served) > 40
    assert documented_operations(document) == served
    # One canonical path per route, without the trailing slash.
    assert len(document["paths"]) == len(ROUTES)
    assert f"{BASE}/{{pk}}/download" in document["paths"]
    assert "/v1/licenses/{pk}/subdescriptors" in document["paths"]


def _undocumented_view(request: object) -> dict:  # pragma: no cover - never called
    return {}


def test_an_undocumented_route_or_method_is_caught(document: dict[str, Any]) -> None:
    with pytest.raises(LookupError, match="undocumented"):
        build_document({**ROUTES, "undocumented": Route("/v1/undocumented")})

    with Configurator() as config:
        config.include("entrypoints.web.routes")
        config.include("entrypoints.web.reads")
        config.scan("entrypoints.web.views")
        config.add_route("undocumented", "/v1/undocumented" + SLASH)
        config.add_view(_undocumented_view, route_name="undocumented", request_method="GET")
        config.add_view(_undocumented_view, route_name="frameworks.list", request_method="PUT")
        config.commit()
        served = served_operations(config.registry)
    assert served - documented_operations(document) == {
        ("/v1/undocumented", "get"),
        ("/v1/frameworks/list", "put"),
    }


def test_every_operation_states_its_errors(document: dict[str, Any]) -> None:
    routes = {canonical_path(r.pattern): r for r in ROUTES.values()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            route = routes[path]
            public = route.public or method.upper() in route.public_methods
            # Public routes need no token; logging in answers 401 for bad credentials,
            # and /metrics when ``modelhub.metrics`` keeps it for admins.
            assert ("401" in statuses) == (
                not public or path.startswith("/v1/auth/") or path == "/metrics"
            )
            assert operation.get("security", [{"bearer": []}]) == (
                [] if public else [{"bearer": []}]
            )
            assert "503" in statuses, (method, path)
            if method in ("post", "put", "patch") and "requestBody" in operation:
                assert "400" in statuses, (method, path)
            if "{pk}" in path or "{username}" in path:
                assert "404" in statuses, (method, path)
    responses = document["components"]["responses"]
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"]
    for name in ("TooManyRequests", "Unavailable"):
        assert responses[name]["headers"]["Retry-After"]["required"]
    upload = document["paths"][f"{BASE}/{{pk}}/data"]["post"]
    assert {"413", "507"} <= set(upload["responses"])
    assert set(upload["requestBody"]["content"]) == {
        "application/octet-stream",
        "multipart/form-data",
        "*/*",
    }
    obtain = document["paths"]["/v1/auth/obtain"]["post"]
    assert "429" in obtain["responses"]


def test_the_filter_caps_are_documented_and_enforced(api: Api, document: dict[str, Any]) -> None:
    spec = document["components"]["schemas"]["FrameworkFilter"]
    assert spec["properties"]["expressions"]["maxItems"] == filters.MAX_EXPRESSIONS
    assert spec["properties"]["order_by"]["maxItems"] == filters.MAX_ORDER_BY
    assert spec["x-max-depth"] == filters.MAX_DEPTH
    url = "/v1/frameworks/list"
    at_cap = {"order_by": [{"field": "pk"}] * filters.MAX_ORDER_BY}
    api.app.post_json(url, at_cap, headers=api.admin, status=200)
    over = {"order_by": [{"field": "pk"}] * (filters.MAX_ORDER_BY + 1)}
    check(document, url, "post", api.app.post_json(url, over, headers=api.admin, status=400))
    long_text = {"type": "contains", "field": "name", "sub_string": "x" * filters.MAX_TEXT}
    api.app.post_json(url, {"expressions": [long_text]}, headers=api.admin, status=200)
    longer = {**long_text, "sub_string": "x" * (filters.MAX_TEXT + 1)}
    api.app.post_json(url, {"expressions": [longer]}, headers=api.admin, status=400)


# -- the app's responses satisfy the document ---------------------------------


def _resolve(document: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check(
    document: Mapping[str, Any], path: str, method: str, response: webtest.TestResponse
) -> None:
    """Assert that ``response`` is one the document describes for the operation:
    a documented status, content type, body schema and required headers."""
    operation = document["paths"][path][method]
    assert str(response.status_code) in operation["responses"], (path, method, response)
    described = _resolve(document, operation["responses"][str(response.status_code)])
    for name, header in described.get("headers", {}).items():
        header = _resolve(document, header)
        if header.get("required"):
            assert name in response.headers, (name, path, method)
        if name in response.headers and name != "Content-Length":
            _validator(document, header["schema"]).validate(response.headers[name])
    content = described.get("content")
    if not content or method == "head":  # a HEAD's answer has no body
        assert not response.body, (path, method)
        return
    media_type = response.content_type
    assert media_type in content or "*/*" in content, (media_type, list(content))
    if media_type == "application/json":
        _validator(document, content[media_type]["schema"]).validate(response.json)


def _validator(document: Mapping[str, Any], schema: Mapping[str, Any]) -> OAS31Validator:
    resource = Resource(contents=dict(document), specification=DRAFT202012)
    registry = SchemaRegistry().with_resource(DOCUMENT_URI, resource)
    return OAS31Validator(_rebase(schema), registry=registry, format_checker=oas31_format_checker)


def _rebase(schema: Any) -> Any:
    """Local references made absolute, so they resolve against the document."""
    if isinstance(schema, dict):
        return {
            key: (DOCUMENT_URI + value if key == "$ref" else _rebase(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema


def test_responses_of_the_app_satisfy_the_document(api: Api, document: dict[str, Any]) -> None:
    app, admin, user = api.app, api.admin, api.user
    item, data, download = f"{BASE}/{{pk}}", f"{BASE}/{{pk}}/data", f"{BASE}/{{pk}}/download"

    def call(template: str, method: str, status: int, **kw: Any) -> webtest.TestResponse:
        url = re.sub(r"\{pk\}", str(kw.pop("pk", 0)), template)
        url = re.sub(r"\{username\}", str(kw.pop("username", "")), url)
        if "json" in kw:
            response = getattr(app, f"{method}_json")(url, kw.pop("json"), status=status, **kw)
        else:
            response = getattr(app, method)(url, status=status, **kw)
        check(document, template, method, response)
        return response

    login = {"username": "admin", "password": PASSWORDS["admin"]}
    refresh = call("/v1/auth/obtain", "post", 200, json=login).json["refresh"]
    call("/v1/auth/refresh", "post", 200, json={"refresh": refresh})
    call("/v1/auth/verify", "post", 200, json={"token": refresh})
    call("/v1/auth/obtain", "post", 401, json={"username": "admin", "password": "wrong"})
    call("/v1/auth/obtain", "post", 400, json={"username": "admin"})
    call("/v1/auth/verify", "post", 401, json={"token": "nope"})
    framework = call(
        "/v1/frameworks/create", "post", 201, json={"name": "pt", "version": "2"}, headers=admin
    ).json
    body = {
        "framework": framework["pk"],
        "domain": "od",
        "licence": "MIT",
        "url": "https://example.org/m",
        "description": "",
        "name": "m",
    }
    model = call(f"{BASE}/create", "post", 201, json=body, headers=admin).json
    pk = model["pk"]
    call(f"{BASE}/create", "post", 400, json={}, headers=admin)
    call(f"{BASE}/create", "post", 403, json=body, headers=user)
    call(f"{BASE}/create", "post", 401, json=body)
    call(item, "get", 200, pk=pk, headers=user)
    call(item, "get", 404, pk=pk + 1000, headers=user)
    call(f"{BASE}/list", "post", 200, json={"order_by": [{"field": "name"}]}, headers=user)
    call(f"{BASE}/list", "post", 400, json={"expressions": [{"type": "?"}]}, headers=user)
    call(download, "get", 404, pk=pk, headers=user)
    uploaded = call(
        data,
        "post",
        200,
        pk=pk,
        params=b"0123456789" * 10,
        headers={**admin, "Content-Type": "application/data"},
    )
    assert uploaded.json["data_size"] == 100
    call(data, "post", 400, pk=pk, params=b"", headers={**admin, "Content-Type": "x/y"})
    etag = call(download, "get", 200, pk=pk, headers=user).headers["ETag"]
    call(download, "post", 200, pk=pk, json={"filetype": "data", "params": {}}, headers=user)
    call(download, "post", 415, pk=pk, json={"filetype": "zip"}, headers=user)
    call(download, "post", 400, pk=pk, json={"params": [1]}, headers=user)
    call(download, "get", 206, pk=pk, headers={**user, "Range": "bytes=10-19"})
    call(download, "get", 304, pk=pk, headers={**user, "If-None-Match": etag})
    call(download, "get", 416, pk=pk, headers={**user, "Range": "bytes=500-"})
    call(item, "patch", 200, pk=pk, json={"metadata": "m"}, headers=admin)
    call(item, "delete", 204, pk=pk, headers=admin)
    call(item, "put", 409, pk=pk, json=body, headers=admin)
    call(download, "get", 410, pk=pk, headers=user)
    call(f"{BASE}/{{pk}}/reinstate", "delete", 200, pk=pk, headers=admin)
    call("/v1/frameworks/{pk}", "delete", 409, pk=framework["pk"], headers=admin)
    call(data, "delete", 200, pk=pk, headers=admin)
    call(f"{BASE}/{{pk}}/hard", "delete", 200, pk=pk, headers=admin)
    call("/v1/domains/list", "post", 200, headers=user)
    call("/v1/licenses/{pk}", "get", 200, pk=1, headers=user)
    call("/v1/licences/{pk}/subdescriptors", "patch", 400, pk=1, json={}, headers=admin)
    call("/v1/users/list", "post", 403, headers=user)
    call("/v1/users/{username}", "get", 200, username="alice", headers=user)
    call("/v1/users/{username}", "get", 405, username="list", headers=admin)
