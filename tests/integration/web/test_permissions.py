"""The permission matrix of every route: anonymous 401, user 403 on admin
actions, admin (and users on read actions) succeed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.web.conftest import Api

MODEL_BODY = {
    "name": "yolo",
    "description": "YOLO",
    "url": "https://example.org/yolo",
    "domain": "od",
    "licence": "Apache-2.0",
}

# (method, path, body, level, status for an allowed caller)
# {m}: a model with a file, {f}: the framework it uses, {g}: an unused
# framework, {l}: an unused licence. "raw" bodies are file uploads.
MATRIX: list[tuple[str, str, Any, str, int]] = [
    ("POST", "/v1/pretrained-models/list", None, "auth", 200),
    ("POST", "/v1/pretrained-models/create", {**MODEL_BODY, "framework": "{f}"}, "admin", 201),
    ("GET", "/v1/pretrained-models/{m}", None, "auth", 200),
    ("PUT", "/v1/pretrained-models/{m}", {**MODEL_BODY, "framework": "{f}"}, "admin", 200),
    ("PATCH", "/v1/pretrained-models/{m}", {"name": "renamed"}, "admin", 200),
    ("DELETE", "/v1/pretrained-models/{m}", None, "admin", 204),
    ("POST", "/v1/pretrained-models/{m}/data", b"new bytes", "admin", 200),
    ("DELETE", "/v1/pretrained-models/{m}/data", None, "admin", 200),
    ("POST", "/v1/pretrained-models/{m}/download", {"filetype": "data"}, "auth", 200),
    ("GET", "/v1/pretrained-models/{m}/download", None, "auth", 200),
    ("DELETE", "/v1/pretrained-models/{m}/hard", None, "admin", 200),
    ("DELETE", "/v1/pretrained-models/{m}/reinstate", None, "admin", 200),
    ("POST", "/v1/frameworks/list", None, "auth", 200),
    ("POST", "/v1/frameworks/create", {"name": "jax", "version": "0.4"}, "admin", 201),
    ("GET", "/v1/frameworks/{f}", None, "auth", 200),
    ("PUT", "/v1/frameworks/{g}", {"name": "tf", "version": "2.16"}, "admin", 200),
    ("PATCH", "/v1/frameworks/{g}", {"version": "2.17"}, "admin", 200),
    ("DELETE", "/v1/frameworks/{g}", None, "admin", 204),
    ("POST", "/v1/domains/list", None, "auth", 200),
    ("GET", "/v1/domains/1", None, "auth", 200),
    ("POST", "/v1/licences/list", None, "auth", 200),
    ("POST", "/v1/licenses/list", None, "auth", 200),
    ("POST", "/v1/licences/create", {"name": "X-1", "url": "https://x.org/1"}, "admin", 201),
    ("GET", "/v1/licences/{l}", None, "auth", 200),
    ("GET", "/v1/licenses/{l}", None, "auth", 200),
    ("PUT", "/v1/licences/{l}", {"name": "X-2", "url": "https://x.org/2"}, "admin", 200),
    ("PATCH", "/v1/licenses/{l}", {"url": "https://x.org/3"}, "admin", 200),
    ("DELETE", "/v1/licences/{l}", None, "admin", 204),
    (
        "PATCH",
        "/v1/licences/{l}/subdescriptors",
        {"type": "permissions", "method": "add", "names": ["Research"]},
        "admin",
        200,
    ),
]
IDS = [f"{method} {path}" for method, path, *_ in MATRIX]


def _world(api: Api) -> dict[str, int]:
    model = api.model()
    api.upload(model["pk"], b"model bytes")
    spare = api.framework("tensorflow", "2.15")
    licence = api.app.post_json(
        "/v1/licences/create", {"name": "Spare", "url": "https://spare.org"}, headers=api.admin
    ).json
    return {"m": model["pk"], "f": model["framework"]["pk"], "g": spare["pk"], "l": licence["pk"]}


def _fill(value: Any, world: dict[str, int]) -> Any:
    if isinstance(value, str):
        for key, pk in world.items():
            if value == f"{{{key}}}":
                return pk
            value = value.replace(f"{{{key}}}", str(pk))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _call(api: Api, method: str, path: str, body: Any, headers: dict[str, str], status: Any):
    if isinstance(body, bytes):
        headers = {**headers, "Content-Type": "application/data"}
        return api.app.request(path, method=method, body=body, headers=headers, status=status)
    if body is None:
        return api.app.request(path, method=method, headers=headers, status=status)
    return getattr(api.app, f"{method.lower()}_json")(path, body, headers=headers, status=status)


@pytest.mark.parametrize(("method", "path", "body", "level", "status"), MATRIX, ids=IDS)
def test_anonymous_is_401(api: Api, method, path, body, level, status) -> None:
    world = _world(api)
    response = _call(api, method, _fill(path, world), _fill(body, world), {}, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "detail" in response.json


@pytest.mark.parametrize(("method", "path", "body", "level", "status"), MATRIX, ids=IDS)
def test_normal_user(api: Api, method, path, body, level, status) -> None:
    world = _world(api)
    expected = status if level == "auth" else 403
    response = _call(api, method, _fill(path, world), _fill(body, world), api.user, expected)
    if expected == 403:
        assert response.json == {"detail": "You do not have permission to perform this action."}


@pytest.mark.parametrize(("method", "path", "body", "level", "status"), MATRIX, ids=IDS)
def test_admin_succeeds(api: Api, method, path, body, level, status) -> None:
    world = _world(api)
    response = _call(api, method, _fill(path, world), _fill(body, world), api.admin, status)
    if status == 204:
        assert response.body == b""


def test_bad_tokens_are_401(api: Api) -> None:
    for header in ("Bearer not-a-token", "Bearer ", "Bearer a b"):
        response = api.app.post(
            "/v1/pretrained-models/list", headers={"Authorization": header}, status=401
        )
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    refresh = api.app.post_json(
        "/v1/auth/obtain", {"username": "admin", "password": "admin-secret-1"}
    ).json["refresh"]
    api.app.post(
        "/v1/pretrained-models/list", headers={"Authorization": f"Bearer {refresh}"}, status=401
    )


def test_anonymous_hears_401_before_anything_about_its_body(api: Api) -> None:
    for path, body in (
        ("/v1/pretrained-models/create", {"name": 5}),
        ("/v1/frameworks/create", [1]),
        ("/v1/users/create", {"is_staff": "yes"}),
    ):
        api.app.post_json(path, body, status=401)
    for path in ("/v1/pretrained-models/list", "/v1/licences/create"):
        api.app.post(path, "{broken", content_type="application/json", status=401)
    # The login routes are for anonymous callers: their body errors stay 400.
    api.app.post_json("/v1/auth/obtain", {"username": 5}, status=400)
    api.app.post("/v1/auth/refresh", "{broken", content_type="application/json", status=400)
