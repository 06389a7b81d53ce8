"""``/v1/users`` through WebTest: the permission matrix, the errors, and
what deactivation and password changes do to tokens already issued."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import argon2
import pytest
import sqlalchemy as sa
import webtest

from tests.integration.web.conftest import PASSWORDS, Api

AUTHENTICATE = 'Bearer realm="api"'
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
DUPLICATE = "A user with that username already exists."
FIELDS = {
    "pk",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
    "last_login",
}
BOB_PASSWORD = "bob-secret-1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def obtain(api: Api, username: str, password: str, status: int = 200) -> dict[str, Any]:
    body = {"username": username, "password": password}
    return api.app.post_json("/v1/auth/obtain", body, status=status).json


def create(api: Api, status: int = 201, **body: Any) -> dict[str, Any]:
    return api.app.post_json("/v1/users/create", body, headers=api.admin, status=status).json


def get(api: Api, username: str) -> dict[str, Any]:
    """A user's JSON as the admin sees it."""
    return api.app.get(f"/v1/users/{username}", headers=api.admin).json


def bob(api: Api) -> dict[str, str]:
    """Creates a second normal user and returns their auth header."""
    create(api, username="bob", password=BOB_PASSWORD)
    return bearer(obtain(api, "bob", BOB_PASSWORD)["access"])


def call(
    api: Api, method: str, path: str, body: Any, headers: dict[str, str], status: int
) -> webtest.TestResponse:
    if body is None:
        return api.app.request(path, method=method, headers=headers, status=status)
    return getattr(api.app, f"{method.lower()}_json")(path, body, headers=headers, status=status)


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


# -- the permission matrix ---------------------------------------------------------------

# (method, path, body, who besides admins may call it, status on success);
# {alice} is alice's pk.
MATRIX: list[tuple[str, str, Any, str, int]] = [
    ("POST", "/v1/users/list", None, "admin", 200),
    ("POST", "/v1/users/create", {"username": "carol", "password": "carol-pw-1"}, "admin", 201),
    ("GET", "/v1/users/{alice}", None, "self", 200),
    ("GET", "/v1/users/alice", None, "self", 200),
    ("PUT", "/v1/users/{alice}", {"username": "alice", "first_name": "Alice"}, "admin", 200),
    ("PATCH", "/v1/users/{alice}", {"last_name": "Liddell"}, "admin", 200),
    ("DELETE", "/v1/users/{alice}", None, "admin", 204),
]
IDS = [f"{method} {path}" for method, path, *_ in MATRIX]


@pytest.mark.parametrize(("method", "path", "body", "level", "status"), MATRIX, ids=IDS)
def test_permission_matrix(
    api: Api, method: str, path: str, body: Any, level: str, status: int
) -> None:
    alice = get(api, "alice")
    path = path.replace("{alice}", str(alice["pk"]))
    bob_header = bob(api)
    everyone_before = api.app.post("/v1/users/list", headers=api.admin).json

    for url in (path, path + "/"):
        anonymous = call(api, method, url, body, {}, 401)
        assert anonymous.headers["WWW-Authenticate"] == AUTHENTICATE
        assert set(anonymous.json) == {"detail"}
        assert call(api, method, url, body, bob_header, 403).json == FORBIDDEN
        if level == "self":
            assert call(api, method, url, body, api.user, 200).json == alice
        else:
            assert call(api, method, url, body, api.user, 403).json == FORBIDDEN
    assert api.app.post("/v1/users/list", headers=api.admin).json == everyone_before

    response = call(api, method, path, body, api.admin, status)
    if status == 204:
        assert response.body == b""
        assert get(api, "alice")["is_active"] is False
    elif path == "/v1/users/list":
        assert response.json == everyone_before
    else:
        assert set(response.json) == FIELDS
    if method == "GET":
        assert response.json == alice
    if method in ("PUT", "PATCH"):
        assert response.json == {**alice, **body} == get(api, "alice")


def test_every_route_answers_with_a_trailing_slash(api: Api) -> None:
    carol = api.app.post_json(
        "/v1/users/create/", {"username": "carol", "password": "pw"}, headers=api.admin
    ).json
    assert carol["username"] == "carol"
    url = f"/v1/users/{carol['pk']}/"
    listed = api.app.post("/v1/users/list/", headers=api.admin).json
    assert [u["username"] for u in listed] == ["admin", "alice", "carol"]
    assert api.app.get(url, headers=api.admin).json == carol
    assert api.app.get("/v1/users/carol/", headers=api.admin).json == carol
    put = {"username": "carol", "first_name": "Carol"}
    assert api.app.put_json(url, put, headers=api.admin).json["first_name"] == "Carol"
    patch = {"last_name": "Jones"}
    assert api.app.patch_json(url, patch, headers=api.admin).json["last_name"] == "Jones"
    assert api.app.delete(url, headers=api.admin, status=204).body == b""
    assert get(api, "carol")["is_active"] is False


def test_list_with_a_filter(api: Api) -> None:
    bob(api)
    spec = {
        "expressions": [{"type": "exact", "field": "is_staff", "value": False}],
        "order_by": [{"field": "username", "ascending": False}],
    }
    found = api.app.post_json("/v1/users/list", spec, headers=api.admin).json
    assert [u["username"] for u in found] == ["bob", "alice"]
    spec = {"expressions": [{"type": "contains", "field": "username", "sub_string": "dmi"}]}
    found = api.app.post_json("/v1/users/list", spec, headers=api.admin).json
    assert [u["username"] for u in found] == ["admin"]


def test_list_cannot_filter_on_the_password(api: Api) -> None:
    for field in ("password", "password_hash"):
        spec = {"expressions": [{"type": "contains", "field": field, "sub_string": "$argon2"}]}
        response = api.app.post_json("/v1/users/list", spec, headers=api.admin, status=400)
        assert field in response.json["detail"]
        spec = {"order_by": [{"field": field}]}
        response = api.app.post_json("/v1/users/list", spec, headers=api.admin, status=400)
        assert field in response.json["detail"]


# -- errors -----------------------------------------------------------------------------


CREATE_ERRORS: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
    ({"username": "alice", "password": "pw"}, {"username": [DUPLICATE]}),
    ({"username": "carol", "password": ""}, {"password": ["This field may not be blank."]}),
    ({"username": "carol"}, {"password": ["This field is required."]}),
    (
        {"username": "c" * 151, "password": "pw"},
        {"username": ["Ensure this field has no more than 150 characters."]},
    ),
    (
        {"username": "carol smith", "password": "pw"},
        {"username": ["Enter a valid username: letters, digits and @/./+/-/_ only."]},
    ),
    (
        {"username": 5, "password": ["pw"], "is_staff": "yes", "email": None},
        {
            "username": ["Not a valid string."],
            "password": ["Not a valid string."],
            "is_staff": ["Must be a valid boolean."],
            "email": ["This field may not be null."],
        },
    ),
]


def test_create_errors(api: Api) -> None:
    before = api.app.post("/v1/users/list", headers=api.admin).json
    for body, errors in CREATE_ERRORS:
        assert create(api, status=400, **body) == errors, body
    assert api.app.post("/v1/users/list", headers=api.admin).json == before
    # The 150-character username that the 151 one exceeds is fine.
    assert create(api, username="c" * 150, password="pw")["username"] == "c" * 150


def test_create_needs_a_json_object(api: Api) -> None:
    for raw in (b"not json", b"[]"):
        response = api.app.post(
            "/v1/users/create",
            raw,
            headers={**api.admin, "Content-Type": "application/json"},
            status=400,
        )
        assert set(response.json) == {"detail"}


def test_update_errors(api: Api) -> None:
    alice = get(api, "alice")
    url = f"/v1/users/{alice['pk']}"
    put = api.app.put_json(url, {"first_name": "A"}, headers=api.admin, status=400).json
    assert put == {"username": ["This field is required."]}
    rename = api.app.patch_json(url, {"username": "admin"}, headers=api.admin, status=400).json
    assert rename == {"username": [DUPLICATE]}
    blank = api.app.patch_json(url, {"password": ""}, headers=api.admin, status=400).json
    assert blank == {"password": ["This field may not be blank."]}
    long_name = {"username": "a" * 151}
    too_long = api.app.patch_json(url, long_name, headers=api.admin, status=400).json
    assert too_long == {"username": ["Ensure this field has no more than 150 characters."]}
    types = api.app.patch_json(
        url, {"first_name": 1, "is_active": "false"}, headers=api.admin, status=400
    ).json
    assert types == {
        "first_name": ["Not a valid string."],
        "is_active": ["Must be a valid boolean."],
    }
    assert get(api, "alice") == alice
    obtain(api, "alice", PASSWORDS["alice"])


def test_unknown_users_are_404_for_admins_and_403_for_others(api: Api) -> None:
    for method, path in (
        ("GET", "/v1/users/9999"),
        ("GET", "/v1/users/nobody"),
        ("PUT", "/v1/users/9999"),
        ("PATCH", "/v1/users/9999"),
        ("DELETE", "/v1/users/9999"),
    ):
        body = {"username": "nobody"} if method in ("PUT", "PATCH") else None
        assert call(api, method, path, body, api.admin, 404).json == NOT_FOUND
        assert call(api, method, path, body, api.user, 403).json == FORBIDDEN
    assert api.app.get("/v1/users/0", headers=api.admin, status=404).json == NOT_FOUND


def test_admin_cannot_deactivate_or_demote_themself(api: Api) -> None:
    me = get(api, "admin")
    url = f"/v1/users/{me['pk']}"
    assert set(api.app.delete(url, headers=api.admin, status=409).json) == {"detail"}
    for body in ({"is_active": False}, {"is_staff": False}):
        response = api.app.patch_json(url, body, headers=api.admin, status=409)
        assert set(response.json) == {"detail"}
    put = {"username": "admin", "is_staff": False}
    api.app.put_json(url, put, headers=api.admin, status=409)
    assert get(api, "admin") == me


def test_destroy_deactivates_and_keeps_the_account(api: Api) -> None:
    alice = get(api, "alice")
    url = f"/v1/users/{alice['pk']}"
    response = api.app.delete(url, headers=api.admin, status=204)
    assert response.body == b""
    assert api.app.get(url, headers=api.admin).json == {**alice, "is_active": False}
    listed = api.app.post("/v1/users/list", headers=api.admin).json
    assert {**alice, "is_active": False} in listed
    api.app.delete(url + "/", headers=api.admin, status=204)
    assert get(api, "alice")["is_active"] is False


def test_reactivated_user_logs_in_again(api: Api) -> None:
    old = obtain(api, "alice", PASSWORDS["alice"])
    url = f"/v1/users/{get(api, 'alice')['pk']}"
    api.app.delete(url, headers=api.admin, status=204)
    api.app.patch_json(url, {"is_active": True}, headers=api.admin)
    api.app.get(url, headers=bearer(old["access"]), status=401)
    fresh = obtain(api, "alice", PASSWORDS["alice"])
    assert api.app.get(url, headers=bearer(fresh["access"])).json["is_active"] is True


def test_date_joined_on_create_and_last_login_on_obtain(api: Api) -> None:
    before = datetime.now(UTC)
    carol = create(api, username="carol", password="carol-pw-1", email="carol@lab.org")
    after = datetime.now(UTC)
    assert before <= parse_time(carol["date_joined"]) <= after
    assert carol["last_login"] is None
    assert (carol["is_active"], carol["is_staff"], carol["is_superuser"]) == (True, False, False)
    assert get(api, "carol") == carol

    before = datetime.now(UTC)
    obtain(api, "carol", "carol-pw-1")
    after = datetime.now(UTC)
    seen = get(api, "carol")
    assert before <= parse_time(seen["last_login"]) <= after
    assert seen["date_joined"] == carol["date_joined"]
    obtain(api, "carol", "wrong", status=401)
    assert get(api, "carol")["last_login"] == seen["last_login"]


def test_usernames_with_symbols_are_found_by_name(api: Api) -> None:
    carol = create(api, username="carol.smith+ml@lab", password="pw")
    assert get(api, "carol.smith+ml@lab") == carol
    assert api.app.get("/v1/users/carol.smith%2Bml%40lab/", headers=api.admin).json == carol


# -- tokens after deactivation and password changes -----------------------------------------


def test_deactivation_revokes_issued_tokens(any_api: Api) -> None:
    api = any_api
    tokens = obtain(api, "alice", PASSWORDS["alice"])
    url = f"/v1/users/{get(api, 'alice')['pk']}"
    api.app.get(url, headers=bearer(tokens["access"]), status=200)
    api.app.delete(url, headers=api.admin, status=204)

    for headers in (bearer(tokens["access"]), api.user):
        response = api.app.get(url, headers=headers, status=401)
        assert response.headers["WWW-Authenticate"] == AUTHENTICATE
        assert response.json == {"detail": "User is inactive"}
    api.app.post_json("/v1/auth/refresh", {"refresh": tokens["refresh"]}, status=401)
    api.app.post_json("/v1/auth/verify", {"token": tokens["access"]}, status=401)
    refused = obtain(api, "alice", PASSWORDS["alice"], status=401)
    assert refused == {"detail": "No active account found with the given credentials"}


def test_password_change_revokes_old_tokens(any_api: Api) -> None:
    api = any_api
    tokens = obtain(api, "alice", PASSWORDS["alice"])
    url = f"/v1/users/{get(api, 'alice')['pk']}"
    patched = api.app.patch_json(url, {"password": "a-new-secret-2"}, headers=api.admin).json
    assert patched["username"] == "alice"

    revoked = api.app.get(url, headers=bearer(tokens["access"]), status=401)
    assert revoked.json == {"detail": "Token has been revoked"}
    api.app.get(url, headers=api.user, status=401)
    api.app.post_json("/v1/auth/refresh", {"refresh": tokens["refresh"]}, status=401)
    obtain(api, "alice", PASSWORDS["alice"], status=401)

    fresh = obtain(api, "alice", "a-new-secret-2")
    assert api.app.get(url, headers=bearer(fresh["access"])).json["username"] == "alice"
    access = api.app.post_json("/v1/auth/refresh", {"refresh": fresh["refresh"]}).json["access"]
    api.app.get(url, headers=bearer(access), status=200)
    # The admin's own token is untouched.
    api.app.post("/v1/users/list", headers=api.admin, status=200)


def test_stored_password_is_an_argon2_hash(any_api: Api) -> None:
    api = any_api
    create(api, username="carol", password="carol-plain-pw")
    users = sa.table("users", sa.column("username"), sa.column("password_hash"))

    def stored() -> str:
        query = sa.select(users.c.password_hash).where(users.c.username == "carol")
        with api.registry.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    first = stored()
    assert first != "carol-plain-pw"
    assert "carol-plain-pw" not in first
    assert first.startswith("$argon2id$")
    assert argon2.PasswordHasher().verify(first, "carol-plain-pw")

    pk = get(api, "carol")["pk"]
    api.app.patch_json(f"/v1/users/{pk}", {"password": "carol-other-pw"}, headers=api.admin)
    second = stored()
    assert second.startswith("$argon2id$") and second != first
    assert argon2.PasswordHasher().verify(second, "carol-other-pw")


def test_no_users_response_mentions_the_password(api: Api) -> None:
    secret = "carol-plain-pw"
    carol = api.app.post_json(
        "/v1/users/create", {"username": "carol", "password": secret}, headers=api.admin
    )
    url = f"/v1/users/{carol.json['pk']}"
    by_name = {"expressions": [{"type": "exact", "field": "username", "value": "carol"}]}
    responses = [
        carol,
        api.app.post("/v1/users/list", headers=api.admin),
        api.app.post_json("/v1/users/list", by_name, headers=api.admin),
        api.app.get(url, headers=api.admin),
        api.app.get("/v1/users/carol", headers=api.admin),
        api.app.get(f"/v1/users/{get(api, 'alice')['pk']}", headers=api.user),
        api.app.get("/v1/users/alice", headers=api.user),
        api.app.put_json(url, {"username": "carol", "password": "pw-2"}, headers=api.admin),
        api.app.patch_json(url, {"password": "pw-3"}, headers=api.admin),
    ]
    for response in responses:
        assert response.status_int in (200, 201)
        text = response.text.lower()
        assert "password" not in text
        assert "argon2" not in text
        assert secret not in text
    assert len(responses[1].json) == 3
