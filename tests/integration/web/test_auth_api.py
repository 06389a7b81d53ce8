"""``/v1/auth`` through WebTest."""

from __future__ import annotations

from tests.integration.web.conftest import PASSWORDS, Api


def test_obtain_refresh_verify(api: Api) -> None:
    pair = api.app.post_json(
        "/v1/auth/obtain", {"username": "alice", "password": PASSWORDS["alice"]}
    ).json
    assert set(pair) == {"access", "refresh"}
    access = api.app.post_json("/v1/auth/refresh", {"refresh": pair["refresh"]}).json
    assert set(access) == {"access"}
    headers = {"Authorization": f"Bearer {access['access']}"}
    api.app.post("/v1/pretrained-models/list", headers=headers, status=200)
    assert api.app.post_json("/v1/auth/verify", {"token": pair["access"]}).json == {}
    assert api.app.post_json("/v1/auth/verify", {"token": pair["refresh"]}).json == {}
    api.app.post_json("/v1/auth/verify", {"token": "garbage"}, status=401)
    api.app.post_json("/v1/auth/refresh", {"refresh": pair["access"]}, status=401)


def test_bad_credentials(api: Api) -> None:
    for body in (
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "x"},
    ):
        response = api.app.post_json("/v1/auth/obtain", body, status=401)
        assert response.json == {"detail": "No active account found with the given credentials"}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    missing = api.app.post_json("/v1/auth/obtain", {"username": "alice"}, status=400).json
    assert missing == {"password": ["This field is required."]}
