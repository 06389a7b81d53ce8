"""The real password hasher (argon2-cffi) and token signer (PyJWT)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest

from adapters.passwords import Argon2PasswordHasher
from adapters.tokens import JwtTokenSigner
from domain.errors import NotAuthenticated

KEY = "k3y-for-tests-only-0123456789-abcdefghijklmnop"  # 46 bytes
OTHER_KEY = "another-key-for-tests-0123456789-abcdefghijkl"
# The UFDL's words, as clients see them (``NotAuthenticated.bad_token``).
BAD_TOKEN = "Given token not valid for any token type"


# -- passwords ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_hash_hides_the_password_and_is_salted(hasher: Argon2PasswordHasher) -> None:
    first, second = hasher.hash("s3cret pass"), hasher.hash("s3cret pass")

    assert "s3cret pass" not in first
    assert first.startswith("$argon2id$")
    assert first != second


def test_verify_accepts_the_password_and_nothing_else(hasher: Argon2PasswordHasher) -> None:
    password_hash = hasher.hash("s3cret pass")

    assert hasher.verify(password_hash, "s3cret pass") is True
    assert hasher.verify(password_hash, "s3cret pasS") is False
    assert hasher.verify(password_hash, "") is False


def test_a_hash_made_with_other_costs_still_verifies(hasher: Argon2PasswordHasher) -> None:
    other = Argon2PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)

    assert hasher.verify(other.hash("pw"), "pw") is True


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "plain$wp",  # the unit-test fake's format
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",  # truncated
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$" + "A" * 43,  # wrong digest
    ],
)
def test_verify_on_an_unusable_hash_is_false(hasher: Argon2PasswordHasher, garbage: str) -> None:
    assert hasher.verify(garbage, "pw") is False


# -- tokens -------------------------------------------------------------------


@pytest.fixture
def signer() -> JwtTokenSigner:
    return JwtTokenSigner(KEY)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "upk": 7,
        "jtt": "access",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def assert_rejected(signer: JwtTokenSigner, token: str) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        signer.decode(token)
    assert caught.value.detail == BAD_TOKEN


def test_token_round_trip(signer: JwtTokenSigner) -> None:
    sent = claims()

    token = signer.sign(sent)

    assert isinstance(token, str)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert signer.decode(token) == sent


def test_another_signer_with_the_same_key_accepts_the_token(signer: JwtTokenSigner) -> None:
    sent = claims()

    assert JwtTokenSigner(KEY).decode(signer.sign(sent)) == sent


def test_expired_token_is_rejected(signer: JwtTokenSigner) -> None:
    now = int(time.time())

    assert_rejected(signer, signer.sign(claims(iat=now - 600, exp=now - 1)))


def test_token_signed_with_another_key_is_rejected(signer: JwtTokenSigner) -> None:
    assert_rejected(signer, JwtTokenSigner(OTHER_KEY).sign(claims()))


def test_unsigned_alg_none_token_is_rejected(signer: JwtTokenSigner) -> None:
    header = b64url_json({"alg": "none", "typ": "JWT"})
    token = f"{header}.{b64url_json(claims())}."

    assert_rejected(signer, token)


def test_token_of_another_hmac_algorithm_with_the_same_key_is_rejected() -> None:
    key = KEY + "-long-enough-for-hs512-0123456789"  # 64+ bytes: no PyJWT warning
    signer = JwtTokenSigner(key)
    token = jwt.encode(claims(), key, algorithm="HS512")
    assert jwt.decode(token, key, algorithms=["HS512"])  # a well-formed token

    assert_rejected(signer, token)


def test_tampered_payload_is_rejected(signer: JwtTokenSigner) -> None:
    header, _, signature = signer.sign(claims(upk=7)).split(".")
    forged = f"{header}.{b64url_json(claims(upk=1))}.{signature}"

    assert_rejected(signer, forged)


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "upk", "jtt"])
def test_token_missing_a_required_claim_is_rejected(signer: JwtTokenSigner, missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), KEY, algorithm="HS256")

    assert_rejected(signer, token)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "....", b64url_json({"alg": ["HS256"]}) + "." + b64url_json({}) + "."],
)
def test_malformed_token_is_rejected(signer: JwtTokenSigner, token: str) -> None:
    assert_rejected(signer, token)


@pytest.mark.parametrize("key", ["", "x" * 31, "é" * 15])
def test_short_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtTokenSigner(key)


def test_a_32_byte_key_is_enough_for_hs256() -> None:
    sent = claims()
    signer = JwtTokenSigner("x" * 32)

    assert signer.decode(signer.sign(sent)) == sent


@pytest.mark.parametrize("algorithm", ["none", "RS256", "hs256"])
def test_algorithms_other_than_hmac_are_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported JWT algorithm"):
        JwtTokenSigner(KEY, algorithm=algorithm)


def test_hs512_signer_needs_a_64_byte_key() -> None:
    with pytest.raises(ValueError, match="at least 64 bytes"):
        JwtTokenSigner(KEY, algorithm="HS512")
    signer = JwtTokenSigner("y" * 64, algorithm="HS512")

    assert_rejected(signer, JwtTokenSigner("y" * 64).sign(claims()))  # HS256 with the same key
