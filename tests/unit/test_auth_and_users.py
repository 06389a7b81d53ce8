"""User accounts and JSON Web Token authentication."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from adapters.memory import MemoryTokenSigner, MemoryUnitOfWork, PlainPasswordHasher
from domain.errors import Invalid, NotAuthenticated, PermissionDenied
from domain.model import User
from domain.services.auth import Auth
from domain.services.users import Users
from domain.validation import BLANK, NOT_BOOL, NOT_TEXT, REQUIRED, too_long
from tests.unit.conftest import PASSWORDS, FakeClock, everything


def invalid_fields(action: Callable[[], Any]) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        action()
    return caught.value.fields


# -- users ----------------------------------------------------------------------------


def test_create_user(
    users: Users,
    admin: User,
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
    clock: FakeClock,
) -> None:
    clock.advance(days=3)
    created = users.create(
        admin,
        {
            "username": "bob.smith+ml@lab",
            "password": "correct horse",
            "email": "bob@example.org",
            "first_name": "Bob",
            "last_name": "Smith",
            "pk": 50,
            "date_joined": "2000-01-01T00:00:00Z",
            "last_login": "2000-01-01T00:00:00Z",
        },
    )
    assert created.pk is not None and created.pk != 50
    assert uow.users.get_by_username("bob.smith+ml@lab") is created
    assert (created.email, created.first_name, created.last_name) == (
        "bob@example.org",
        "Bob",
        "Smith",
    )
    assert (created.is_active, created.is_staff, created.is_superuser) == (True, False, False)
    assert created.date_joined == clock.now()
    assert created.last_login is None
    assert "correct horse" not in created.password_hash
    assert hasher.verify(created.password_hash, "correct horse")
    assert not hasher.verify(created.password_hash, "wrong")


def test_created_user_can_log_in(users: Users, auth: Auth, admin: User) -> None:
    created = users.create(admin, {"username": "bob", "password": "pw", "is_staff": True})
    assert created.is_staff is True
    tokens = auth.obtain("bob", "pw")
    assert auth.authenticate(tokens["access"]) is created


def test_created_inactive_user_cannot_log_in(users: Users, auth: Auth, admin: User) -> None:
    users.create(admin, {"username": "bob", "password": "pw", "is_active": False})
    with pytest.raises(NotAuthenticated):
        auth.obtain("bob", "pw")


def test_duplicate_username(users: Users, admin: User, user: User, uow: MemoryUnitOfWork) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": "user", "password": "pw"}))
    assert fields == {"username": ["A user with that username already exists."]}
    assert [u.username for u in everything(uow.users)] == ["admin", "user"]


@pytest.mark.parametrize("username", ["bob smith", "bob!", "bob/x", "a:b", "tab\t"])
def test_bad_username_characters(username: str, users: Users, admin: User) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": username, "password": "pw"}))
    assert fields == {"username": ["Enter a valid username: letters, digits and @/./+/-/_ only."]}


@pytest.mark.parametrize(
    ("username", "message"),
    [(None, REQUIRED), ("", BLANK), ("  ", BLANK), ("u" * 151, too_long(150))],
)
def test_missing_blank_or_long_username(
    username: Any, message: str, users: Users, admin: User
) -> None:
    data = {"password": "pw"} if username is None else {"username": username, "password": "pw"}
    assert invalid_fields(lambda: users.create(admin, data)) == {"username": [message]}


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (None, REQUIRED),
        ("", BLANK),
        (12345678, NOT_TEXT),
        ("p" * 4097, too_long(4096)),
    ],
)
def test_bad_password(
    password: Any, message: str, users: Users, admin: User, uow: MemoryUnitOfWork
) -> None:
    data: dict[str, Any] = {"username": "bob"}
    if password is not None:
        data["password"] = password
    assert invalid_fields(lambda: users.create(admin, data)) == {"password": [message]}
    assert uow.users.get_by_username("bob") is None


def test_longest_password_is_accepted(users: Users, auth: Auth, admin: User) -> None:
    users.create(admin, {"username": "bob", "password": "p" * 4096})
    assert set(auth.obtain("bob", "p" * 4096)) == {"access", "refresh"}


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.org", "@example.org", "a@@b.org"])
def test_bad_email(email: str, users: Users, admin: User) -> None:
    fields = invalid_fields(
        lambda: users.create(admin, {"username": "bob", "password": "pw", "email": email})
    )
    assert fields == {"email": ["Enter a valid email address."]}


def test_email_may_be_blank(users: Users, admin: User) -> None:
    assert users.create(admin, {"username": "bob", "password": "pw", "email": ""}).email == ""


def test_flags_must_be_booleans(users: Users, admin: User) -> None:
    fields = invalid_fields(
        lambda: users.create(admin, {"username": "bob", "password": "pw", "is_staff": "yes"})
    )
    assert fields == {"is_staff": [NOT_BOOL]}


def test_every_problem_is_reported_at_once(users: Users, admin: User) -> None:
    fields = invalid_fields(lambda: users.create(admin, {"username": "a b", "email": "x"}))
    assert set(fields) == {"username", "password", "email"}


@pytest.mark.parametrize(
    ("who", "error"),
    [("anonymous", NotAuthenticated), ("inactive", NotAuthenticated), ("user", PermissionDenied)],
)
def test_only_admins_create_users(
    who: str,
    error: type[Exception],
    request: pytest.FixtureRequest,
    users: Users,
    uow: MemoryUnitOfWork,
) -> None:
    actor = request.getfixturevalue(who)
    with pytest.raises(error):
        users.create(actor, {"username": "bob", "password": "pw"})
    assert uow.users.get_by_username("bob") is None


# -- auth: obtain ----------------------------------------------------------------------


def test_obtain_a_token_pair(auth: Auth, user: User, clock: FakeClock) -> None:
    clock.advance(minutes=10)
    tokens = auth.obtain("user", PASSWORDS["user"])
    assert set(tokens) == {"access", "refresh"}
    assert tokens["access"] != tokens["refresh"]
    assert user.last_login == clock.now()
    assert auth.authenticate(tokens["access"]) is user


def test_token_claims(auth: Auth, user: User, signer: MemoryTokenSigner, clock: FakeClock) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    access = signer.decode(tokens["access"])
    refresh = signer.decode(tokens["refresh"])
    assert set(access) == set(refresh) == {"upk", "jtt", "exp", "iat", "jti", "gen", "adm"}
    assert (access["upk"], access["jtt"], refresh["jtt"]) == (user.pk, "access", "refresh")
    assert access["adm"] is False
    assert access["iat"] == int(clock.now().timestamp())
    assert access["exp"] - access["iat"] == 5 * 60
    assert refresh["exp"] - refresh["iat"] == 8 * 60 * 60
    assert access["jti"] != refresh["jti"]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("user", "wrong"),
        ("user", ""),
        ("User", PASSWORDS["user"]),
        ("nobody", PASSWORDS["user"]),
        ("inactive", PASSWORDS["inactive"]),
        (None, PASSWORDS["user"]),
        ("user", None),
        (["user"], PASSWORDS["user"]),
    ],
)
def test_obtain_refused(
    username: Any, password: Any, auth: Auth, user: User, inactive: User
) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        auth.obtain(username, password)
    assert caught.value.detail == "No active account found with the given credentials"
    assert user.last_login is None
    assert inactive.last_login is None


# -- auth: refresh, authenticate, verify ---------------------------------------------------


def test_refresh_gives_a_working_access_token(auth: Auth, user: User, clock: FakeClock) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    clock.advance(minutes=6)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(tokens["access"])
    refreshed = auth.refresh(tokens["refresh"])
    assert set(refreshed) == {"access"}
    assert refreshed["access"] != tokens["access"]
    assert auth.authenticate(refreshed["access"]) is user


def test_refresh_token_is_not_an_access_token(auth: Auth, user: User) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    with pytest.raises(NotAuthenticated):
        auth.authenticate(tokens["refresh"])


def test_access_token_is_not_a_refresh_token(auth: Auth, user: User) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    with pytest.raises(NotAuthenticated):
        auth.refresh(tokens["access"])


def test_access_token_expires_after_five_minutes(auth: Auth, user: User, clock: FakeClock) -> None:
    access = auth.obtain("user", PASSWORDS["user"])["access"]
    clock.advance(minutes=4, seconds=58)
    assert auth.authenticate(access) is user
    auth.verify(access)
    clock.advance(seconds=3)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(access)
    with pytest.raises(NotAuthenticated):
        auth.verify(access)


def test_refresh_token_expires_after_eight_hours(auth: Auth, user: User, clock: FakeClock) -> None:
    refresh = auth.obtain("user", PASSWORDS["user"])["refresh"]
    clock.advance(hours=7, minutes=59)
    auth.refresh(refresh)
    clock.advance(minutes=1, seconds=1)
    with pytest.raises(NotAuthenticated):
        auth.refresh(refresh)


def test_lifetimes_are_configurable(
    uow: MemoryUnitOfWork,
    hasher: PlainPasswordHasher,
    signer: MemoryTokenSigner,
    clock: FakeClock,
    user: User,
) -> None:
    short = Auth(uow, hasher, signer, clock, timedelta(seconds=10), timedelta(seconds=20))
    tokens = short.obtain("user", PASSWORDS["user"])
    clock.advance(seconds=11)
    with pytest.raises(NotAuthenticated):
        short.authenticate(tokens["access"])
    short.refresh(tokens["refresh"])
    clock.advance(seconds=10)
    with pytest.raises(NotAuthenticated):
        short.refresh(tokens["refresh"])


@pytest.mark.parametrize("how", ["deactivated", "removed"])
def test_tokens_of_a_user_gone_since_are_refused(
    how: str, auth: Auth, user: User, uow: MemoryUnitOfWork
) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    if how == "deactivated":
        user.is_active = False
    else:
        uow.users.delete(user)
    for use in (auth.authenticate, auth.refresh, auth.verify):
        for token in tokens.values():
            with pytest.raises(NotAuthenticated):
                use(token)


def test_verify_accepts_both_valid_token_types(auth: Auth, user: User) -> None:
    tokens = auth.obtain("user", PASSWORDS["user"])
    assert auth.verify(tokens["access"]) is None
    assert auth.verify(tokens["refresh"]) is None


@pytest.mark.parametrize("token", ["token-999", "", None, 42, ["token-1"], "garbage"])
def test_invalid_tokens_are_refused_everywhere(token: Any, auth: Auth, user: User) -> None:
    auth.obtain("user", PASSWORDS["user"])
    for use in (auth.authenticate, auth.refresh, auth.verify):
        with pytest.raises(NotAuthenticated):
            use(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"jtt": "access", "exp": 4102444800},
        {"upk": 1, "exp": 4102444800},
        {"upk": 1, "jtt": "access"},
        {"upk": 1, "jtt": "access", "exp": "4102444800"},
        {"upk": "1", "jtt": "access", "exp": 4102444800},
        {"upk": 1, "jtt": "other", "exp": 4102444800},
    ],
    ids=["no-upk", "no-jtt", "no-exp", "text-exp", "text-upk", "other-jtt"],
)
def test_signed_tokens_with_bad_claims_are_refused(
    claims: dict[str, Any], auth: Auth, signer: MemoryTokenSigner, user: User
) -> None:
    assert user.pk == 1
    token = signer.sign(claims)
    for use in (auth.authenticate, auth.verify):
        with pytest.raises(NotAuthenticated):
            use(token)
