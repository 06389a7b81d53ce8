"""Failed logins are limited per username at a client address, and per address.

``throttled_auth`` allows 3 failures per username and 5 per address within
one minute (``THROTTLE``); the fake clock moves the window by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from domain.errors import Invalid, NotAuthenticated, TooManyRequests
from domain.model import User
from domain.services.auth import BAD_CREDENTIALS, Auth
from tests.unit.conftest import PASSWORDS, THROTTLE, FakeClock

RIGHT = PASSWORDS["user"]
ADDRESS = "192.0.2.7"


def fail(auth: Auth, username: str = "user", client: str | None = None, times: int = 1) -> None:
    """``times`` failed logins, each answered as bad credentials."""
    for _ in range(times):
        with pytest.raises(NotAuthenticated) as caught:
            auth.obtain(username, "wrong", client=client)
        assert caught.value.detail == BAD_CREDENTIALS


def throttled(action: Callable[[], Any]) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as caught:
        action()
    return caught.value


def test_below_the_limit_the_right_password_works(throttled_auth: Auth, user: User) -> None:
    fail(throttled_auth, times=THROTTLE.per_username - 1)
    assert set(throttled_auth.obtain("user", RIGHT)) == {"access", "refresh"}


def test_past_the_limit_even_the_right_password_is_refused(
    throttled_auth: Auth, user: User
) -> None:
    fail(throttled_auth, times=THROTTLE.per_username)
    error = throttled(lambda: throttled_auth.obtain("user", RIGHT))
    assert 0 < error.retry_after <= THROTTLE.window.total_seconds()
    assert f"{error.retry_after} seconds" in error.detail
    throttled(lambda: throttled_auth.obtain("user", "wrong"))
    assert user.last_login is None


def test_retry_after_counts_until_enough_failures_leave_the_window(
    throttled_auth: Auth, user: User, clock: FakeClock
) -> None:
    for _ in range(THROTTLE.per_username):
        fail(throttled_auth)
        clock.advance(seconds=10)
    # Failures at 0 s, 10 s and 20 s; now is 30 s: the first leaves at 60 s.
    assert throttled(lambda: throttled_auth.obtain("user", RIGHT)).retry_after == 30
    clock.advance(seconds=25)
    assert throttled(lambda: throttled_auth.obtain("user", RIGHT)).retry_after == 5


def test_failures_age_out_of_the_window(throttled_auth: Auth, user: User, clock: FakeClock) -> None:
    fail(throttled_auth, times=THROTTLE.per_username)
    clock.advance(THROTTLE.window - timedelta(seconds=1))
    throttled(lambda: throttled_auth.obtain("user", RIGHT))
    assert user.last_login is None
    clock.advance(seconds=2)
    throttled_auth.obtain("user", RIGHT)
    assert user.last_login == clock.now()


def test_the_window_slides(throttled_auth: Auth, user: User, clock: FakeClock) -> None:
    fail(throttled_auth)
    clock.advance(seconds=40)
    fail(throttled_auth, times=2)
    throttled(lambda: throttled_auth.obtain("user", RIGHT))
    # The first failure has left the window, the other two have not: one
    # more failure is allowed, and then the username is locked again.
    clock.advance(seconds=21)
    fail(throttled_auth)
    throttled(lambda: throttled_auth.obtain("user", RIGHT))


def test_waiting_exactly_retry_after_is_enough(
    throttled_auth: Auth, user: User, clock: FakeClock
) -> None:
    fail(throttled_auth, times=THROTTLE.per_username)
    clock.advance(seconds=15)
    wait = throttled(lambda: throttled_auth.obtain("user", RIGHT)).retry_after
    clock.advance(seconds=wait)
    throttled_auth.obtain("user", RIGHT)


def test_refused_attempts_do_not_extend_the_lock(
    throttled_auth: Auth, user: User, clock: FakeClock
) -> None:
    fail(throttled_auth, times=THROTTLE.per_username)
    for _ in range(6):
        clock.advance(seconds=9)
        throttled(lambda: throttled_auth.obtain("user", "wrong"))
    clock.advance(seconds=7)  # 61 s after the failures
    throttled_auth.obtain("user", RIGHT)


def test_a_success_clears_the_username_count(throttled_auth: Auth, user: User) -> None:
    for _ in range(3):
        fail(throttled_auth, times=THROTTLE.per_username - 1)
        throttled_auth.obtain("user", RIGHT)
    fail(throttled_auth, times=THROTTLE.per_username - 1)
    throttled_auth.obtain("user", RIGHT)


def test_another_user_logs_in_while_one_username_is_locked(
    throttled_auth: Auth, user: User, admin: User
) -> None:
    fail(throttled_auth, "user", client=ADDRESS, times=THROTTLE.per_username)
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))
    tokens = throttled_auth.obtain("admin", PASSWORDS["admin"], client=ADDRESS)
    assert throttled_auth.authenticate(tokens["access"]) is admin
    # ... and that success did not unlock the other username.
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))


def test_usernames_are_counted_regardless_of_case(throttled_auth: Auth, user: User) -> None:
    """Else ``User``, ``USER``, ``uSer``... would each bring a fresh allowance."""
    for spelling in ("User", "USER", "uSER"):
        fail(throttled_auth, spelling)
    throttled(lambda: throttled_auth.obtain("user", RIGHT))


def test_unknown_usernames_are_throttled_like_known_ones(throttled_auth: Auth) -> None:
    """The answers do not reveal which accounts exist."""
    fail(throttled_auth, "nobody", times=THROTTLE.per_username)
    throttled(lambda: throttled_auth.obtain("nobody", "wrong"))


def test_per_address_limit(throttled_auth: Auth, user: User, admin: User) -> None:
    # Five failures from one address, spread over usernames so none is locked.
    for name in ("user", "user", "admin", "admin", "carol"):
        fail(throttled_auth, name, client=ADDRESS)
    for name, password in (("user", RIGHT), ("admin", PASSWORDS["admin"]), ("dave", "x")):
        throttled(partial(throttled_auth.obtain, name, password, client=ADDRESS))
    # Another address, or a caller without one, is not affected.
    throttled_auth.obtain("user", RIGHT, client="198.51.100.1")
    throttled_auth.obtain("admin", PASSWORDS["admin"])


def test_a_success_does_not_clear_the_address_count(
    throttled_auth: Auth, user: User, admin: User
) -> None:
    """An attacker with an account of their own cannot reset the address
    count by logging in between guesses."""
    for victim in ("carol", "dave", "erin", "frank", "grace"):
        throttled_auth.obtain("user", RIGHT, client=ADDRESS)
        fail(throttled_auth, victim, client=ADDRESS)
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))


def test_the_address_lock_also_ages_out(throttled_auth: Auth, user: User, clock: FakeClock) -> None:
    for name in ("a", "b", "c", "d", "e"):
        fail(throttled_auth, name, client=ADDRESS)
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))
    clock.advance(THROTTLE.window + timedelta(seconds=1))
    throttled_auth.obtain("user", RIGHT, client=ADDRESS)


def test_the_right_password_of_an_inactive_account_counts_as_a_failure(
    throttled_auth: Auth, inactive: User
) -> None:
    """Else the lack of a lock would tell that a guess is right."""
    for _ in range(THROTTLE.per_username):
        with pytest.raises(NotAuthenticated):
            throttled_auth.obtain("inactive", PASSWORDS["inactive"])
    throttled(lambda: throttled_auth.obtain("inactive", PASSWORDS["inactive"]))


def test_without_an_attempt_log_nothing_is_throttled(auth: Auth, user: User) -> None:
    assert auth.attempts is None
    fail(auth, times=50)
    fail(auth, "user", client=ADDRESS, times=150)
    assert set(auth.obtain("user", RIGHT, client=ADDRESS)) == {"access", "refresh"}


def test_failures_at_one_address_never_lock_the_user_out_at_another(
    throttled_auth: Auth, user: User, clock: FakeClock
) -> None:
    """A guesser can lock only their own address out, not the account."""
    attacker, owner = ADDRESS, "198.51.100.1"
    fail(throttled_auth, "user", client=attacker, times=THROTTLE.per_username)
    for _ in range(20):  # the attacker keeps trying: refused, and the owner is not
        throttled(lambda: throttled_auth.obtain("user", "wrong", client=attacker))
        tokens = throttled_auth.obtain("user", RIGHT, client=owner)
        assert throttled_auth.authenticate(tokens["access"]) is user
        clock.advance(seconds=2)


def test_a_success_clears_only_its_own_address(throttled_auth: Auth, user: User) -> None:
    other = "198.51.100.1"
    fail(throttled_auth, "user", client=ADDRESS, times=THROTTLE.per_username)
    throttled_auth.obtain("user", RIGHT, client=other)
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))


def test_unreadable_logins_count_against_the_address(throttled_auth: Auth, user: User) -> None:
    error = Invalid.field("username", "This field is required.")
    for _ in range(THROTTLE.per_address):
        with pytest.raises(Invalid) as caught:
            throttled_auth.refuse_login(error, client=ADDRESS)
        assert caught.value is error
    throttled(lambda: throttled_auth.refuse_login(error, client=ADDRESS))
    throttled(lambda: throttled_auth.obtain("user", RIGHT, client=ADDRESS))
    throttled_auth.obtain("user", RIGHT, client="198.51.100.1")


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [("us\x00er", RIGHT, "username"), ("user", "pass\ud800word", "password")],
)
def test_credentials_that_are_not_text_are_invalid_and_counted(
    throttled_auth: Auth, user: User, username: str, password: str, field: str
) -> None:
    for _ in range(THROTTLE.per_username):
        with pytest.raises(Invalid) as caught:
            throttled_auth.obtain(username, password, client=ADDRESS)
        assert set(caught.value.fields) == {field}
    throttled(lambda: throttled_auth.obtain(username, password, client=ADDRESS))
