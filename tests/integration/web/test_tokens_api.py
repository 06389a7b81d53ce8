"""Bearer tokens through HTTP: forged, expired and misused tokens are 401,
and failed logins are rate limited (429 with ``Retry-After``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from adapters.tokens import JwtTokenSigner
from tests.integration.web.conftest import JWT_KEY, PASSWORDS, Api

AUTHENTICATE = 'Bearer realm="api"'
BAD_CREDENTIALS = {"detail": "No active account found with the given credentials"}
# A route any authenticated user may call, and one only admins may.
ANYONE = "/v1/frameworks/list"
ADMINS = "/v1/users/list"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pk_of(api: Api, username: str) -> int:
    return api.app.get(f"/v1/users/{username}", headers=api.admin).json["pk"]


def claims(upk: int, **overrides: Any) -> dict[str, Any]:
    """Valid access-token claims for user ``upk``, as the server issues them."""
    now = int(time.time())
    return {
        "upk": upk,
        "jtt": "access",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "gen": 0,
        **overrides,
    }


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def refused(api: Api, token: str, path: str = ANYONE) -> None:
    response = api.app.post(path, headers=bearer(token), status=401)
    assert response.headers["WWW-Authenticate"] == AUTHENTICATE
    assert set(response.json) == {"detail"}


# -- forged and misused tokens ----------------------------------------------------------


def test_a_token_signed_here_with_valid_claims_works(api: Api) -> None:
    """The control for the tests below: what they break is all that is wrong."""
    token = JwtTokenSigner(JWT_KEY).sign(claims(pk_of(api, "admin")))
    assert api.app.post(ADMINS, headers=bearer(token)).json[0]["username"] == "admin"


def test_expired_access_token(api: Api) -> None:
    past = int(time.time()) - 3600
    token = JwtTokenSigner(JWT_KEY).sign(claims(pk_of(api, "admin"), iat=past, exp=past + 300))
    refused(api, token)
    api.app.post_json("/v1/auth/verify", {"token": token}, status=401)


def test_refresh_token_is_not_an_access_token(api: Api) -> None:
    tokens = api.app.post_json(
        "/v1/auth/obtain", {"username": "alice", "password": PASSWORDS["alice"]}
    ).json
    refused(api, tokens["refresh"])
    # Nor is an access token a refresh token.
    api.app.post_json("/v1/auth/refresh", {"refresh": tokens["access"]}, status=401)
    api.app.post(ANYONE, headers=bearer(tokens["access"]), status=200)


def test_token_signed_with_another_key(api: Api) -> None:
    other = JwtTokenSigner("another-signing-key-that-is-long-enough-987654321")
    refused(api, other.sign(claims(pk_of(api, "admin"))), ADMINS)


def test_unsigned_alg_none_token(api: Api) -> None:
    body = b64(claims(pk_of(api, "admin")))
    for alg in ("none", "None", "NONE"):
        header = b64({"alg": alg, "typ": "JWT"})
        refused(api, f"{header}.{body}.", ADMINS)


def hmac_token(payload: dict[str, Any], algorithm: str, key: str = JWT_KEY) -> str:
    """A token signed by hand, so any HMAC algorithm can be tried with the server's key."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signing_input = f"{b64({'alg': algorithm, 'typ': 'JWT'})}.{b64(payload)}"
    mac = hmac.new(key.encode(), signing_input.encode(), digest[algorithm]).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_token_of_another_algorithm_with_the_right_key(api: Api) -> None:
    payload = claims(pk_of(api, "admin"))
    api.app.post(ADMINS, headers=bearer(hmac_token(payload, "HS256")), status=200)
    for algorithm in ("HS384", "HS512"):
        refused(api, hmac_token(payload, algorithm), ADMINS)


def test_tampered_payload(api: Api) -> None:
    """Alice's real token, re-labelled as the admin's, keeps alice's signature."""
    access = api.user["Authorization"].removeprefix("Bearer ")
    header, payload, signature = access.split(".")
    forged = {**unb64(payload), "upk": pk_of(api, "admin")}
    refused(api, f"{header}.{b64(forged)}.{signature}", ADMINS)
    api.app.post(ADMINS, headers=api.user, status=403)


def test_a_valid_refresh_gives_a_working_access_token(api: Api) -> None:
    tokens = api.app.post_json(
        "/v1/auth/obtain", {"username": "alice", "password": PASSWORDS["alice"]}
    ).json
    access = api.app.post_json("/v1/auth/refresh", {"refresh": tokens["refresh"]}).json["access"]
    assert access != tokens["access"]
    me = api.app.get("/v1/users/alice", headers=bearer(access)).json
    assert me["username"] == "alice"


# -- the login rate limit --------------------------------------------------------------


def obtain(api: Api, username: str, password: str, status: int, **kw: Any) -> Any:
    return api.app.post_json(
        "/v1/auth/obtain", {"username": username, "password": password}, status=status, **kw
    )


def assert_throttled(response: Any, window: int = 60) -> None:
    assert response.status_int == 429
    assert 0 < int(response.headers["Retry-After"]) <= window
    assert set(response.json) == {"detail"}
    assert response.headers["Content-Type"].startswith("application/json")


def test_failed_logins_are_limited_per_username(make_api: Callable[..., Api]) -> None:
    """Counted per username at one client address (WebTest's is 127.0.0.1)."""
    api = make_api(login_failures_per_username=3)
    for _ in range(3):
        assert obtain(api, "alice", "wrong", 401).json == BAD_CREDENTIALS
    assert_throttled(obtain(api, "alice", "wrong", 429))
    # The right password does not help while the username is locked ...
    assert_throttled(obtain(api, "alice", PASSWORDS["alice"], 429))
    # ... but another user logs in from the same client.
    tokens = obtain(api, "admin", PASSWORDS["admin"], 200).json
    api.app.post(ADMINS, headers=bearer(tokens["access"]), status=200)
    assert_throttled(obtain(api, "alice", PASSWORDS["alice"], 429))
    # Tokens issued before the lock still work: the limit is on logging in.
    api.app.get("/v1/users/alice", headers=api.user, status=200)


def test_failed_logins_are_limited_per_client_address(make_api: Callable[..., Api]) -> None:
    api = make_api(login_failures_per_username=10, login_failures_per_address=3)
    here = {"extra_environ": {"REMOTE_ADDR": "192.0.2.7"}}
    elsewhere = {"extra_environ": {"REMOTE_ADDR": "198.51.100.9"}}
    for name in ("alice", "admin", "nobody"):
        obtain(api, name, "wrong", 401, **here)
    assert_throttled(obtain(api, "admin", PASSWORDS["admin"], 429, **here))
    obtain(api, "admin", PASSWORDS["admin"], 200, **elsewhere)
    obtain(api, "alice", PASSWORDS["alice"], 200, **elsewhere)


def test_the_default_limit_allows_a_few_typos(api: Api) -> None:
    for _ in range(5):
        obtain(api, "alice", "typo", 401)
    obtain(api, "alice", PASSWORDS["alice"], 200)


def test_a_guesser_cannot_lock_the_owner_out_from_another_address(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(login_failures_per_username=3, login_failures_per_address=5)
    attacker = {"extra_environ": {"REMOTE_ADDR": "192.0.2.66"}}
    owner = {"extra_environ": {"REMOTE_ADDR": "198.51.100.9"}}
    for _ in range(3):
        obtain(api, "alice", "wrong", 401, **attacker)
    for _ in range(10):
        assert_throttled(obtain(api, "alice", "wrong", 429, **attacker))
        obtain(api, "alice", PASSWORDS["alice"], 200, **owner)
    assert_throttled(obtain(api, "alice", PASSWORDS["alice"], 429, **attacker))


def test_logins_with_unreadable_input_count_as_failures(make_api: Callable[..., Api]) -> None:
    api = make_api(login_failures_per_address=4)
    here = {"extra_environ": {"REMOTE_ADDR": "192.0.2.7"}}
    api.app.post("/v1/auth/obtain", "{not json", status=400, **here)
    api.app.post_json("/v1/auth/obtain", {"username": "alice"}, status=400, **here)
    api.app.post_json("/v1/auth/obtain", {"username": 1, "password": 2}, status=400, **here)
    nul = {"username": "ali\x00ce", "password": "x"}
    assert api.app.post_json("/v1/auth/obtain", nul, status=400, **here).json == {
        "username": ["Null characters are not allowed."]
    }
    assert_throttled(obtain(api, "alice", PASSWORDS["alice"], 429, **here))
    assert_throttled(api.app.post("/v1/auth/obtain", "{not json", status=429, **here))
    obtain(api, "alice", PASSWORDS["alice"], 200)
