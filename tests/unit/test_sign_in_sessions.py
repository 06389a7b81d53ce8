"""Signing in for a browser session: the same credentials, throttle and
revocation as tokens, and a session that ends when the user's tokens would."""

from __future__ import annotations

import pytest

from domain.errors import NotAuthenticated, TooManyRequests
from domain.model import User
from domain.services.auth import Auth
from domain.services.users import Users
from tests.unit.conftest import PASSWORDS, THROTTLE, FakeClock


def test_sign_in_gives_the_user_and_notes_the_login(
    auth: Auth, user: User, clock: FakeClock
) -> None:
    assert auth.sign_in("user", PASSWORDS["user"]) is user
    assert user.last_login == clock.now()


@pytest.mark.parametrize(
    ("username", "password"), [("user", "wrong"), ("nobody", "x"), ("inactive", "inactive-secret")]
)
@pytest.mark.usefixtures("user", "inactive")
def test_sign_in_refuses_what_obtain_refuses(auth: Auth, username: str, password: str) -> None:
    with pytest.raises(NotAuthenticated):
        auth.sign_in(username, password)


def test_sign_in_and_tokens_share_one_throttle(throttled_auth: Auth, user: User) -> None:
    for _ in range(THROTTLE.per_username - 1):
        with pytest.raises(NotAuthenticated):
            throttled_auth.obtain("user", "wrong", client="192.0.2.1")
    with pytest.raises(NotAuthenticated):
        throttled_auth.sign_in("user", "wrong", client="192.0.2.1")
    with pytest.raises(TooManyRequests):
        throttled_auth.sign_in("user", PASSWORDS["user"], client="192.0.2.1")
    with pytest.raises(TooManyRequests):
        throttled_auth.obtain("user", PASSWORDS["user"], client="192.0.2.1")


def test_a_session_resumes_until_the_user_is_changed(
    auth: Auth, users: Users, admin: User, user: User
) -> None:
    signed_in = auth.sign_in("user", PASSWORDS["user"])
    generation = signed_in.token_generation
    assert auth.resume(user.pk, generation) is user
    users.update(admin, user.pk, {"password": "a-new-secret-1"}, partial=True)
    with pytest.raises(NotAuthenticated):
        auth.resume(user.pk, generation)
    assert auth.resume(user.pk, user.token_generation) is user
    users.deactivate(admin, user.pk)
    with pytest.raises(NotAuthenticated):
        auth.resume(user.pk, user.token_generation)


@pytest.mark.parametrize(("pk", "generation"), [(999, 0), ("1", 0), (None, None)])
@pytest.mark.usefixtures("user")
def test_a_session_of_no_user_is_refused(auth: Auth, pk: object, generation: object) -> None:
    with pytest.raises(NotAuthenticated):
        auth.resume(pk, generation)
