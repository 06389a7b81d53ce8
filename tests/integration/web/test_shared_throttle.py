"""The login throttle of several instances on one database: failed logins
spread over the instances meet one limit, not one per instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import webtest

from entrypoints.web import make_app
from tests.integration.web.conftest import PASSWORDS, Api, _build_api, make_registry
from tests.integration.web.test_tokens_api import BAD_CREDENTIALS, assert_throttled, obtain

LIMITS = {"login_failures_per_username": 3, "login_failures_per_address": 5}


@pytest.fixture
def instances(database_url: str, tmp_path: Path) -> Iterator[list[webtest.TestApp]]:
    """Two apps, each with a registry (engine, pool, caches) of its own, as
    two server processes on one database and one blob folder."""
    first = _build_api(database_url, tmp_path / "blobs", **LIMITS)
    second = make_registry(database_url, tmp_path / "blobs", **LIMITS)
    try:
        yield [first.app, webtest.TestApp(make_app(second))]
    finally:
        second.dispose()
        first.registry.dispose()


def on(app: webtest.TestApp) -> Api:
    """What ``obtain`` needs of an ``Api``: its app."""
    return Api(app, None, {}, {})  # type: ignore[arg-type]


def test_failures_on_every_instance_count_against_one_username_limit(
    instances: list[webtest.TestApp],
) -> None:
    first, second = instances
    for app in (first, second, first):
        assert obtain(on(app), "alice", "wrong", 401).json == BAD_CREDENTIALS
    for app in (first, second):
        assert_throttled(obtain(on(app), "alice", "wrong", 429))
        assert_throttled(obtain(on(app), "alice", PASSWORDS["alice"], 429))
    # The lock is on that username: another one still logs in, on either.
    obtain(on(second), "admin", PASSWORDS["admin"], 200)


def test_failures_on_every_instance_count_against_one_address_limit(
    instances: list[webtest.TestApp],
) -> None:
    here = {"extra_environ": {"REMOTE_ADDR": "192.0.2.7"}}
    elsewhere = {"extra_environ": {"REMOTE_ADDR": "198.51.100.9"}}
    first, second = instances
    for n in range(5):
        obtain(on(instances[n % 2]), f"guess-{n}", "wrong", 401, **here)
    for app in (first, second):
        assert_throttled(obtain(on(app), "admin", PASSWORDS["admin"], 429, **here))
        obtain(on(app), "admin", PASSWORDS["admin"], 200, **elsewhere)


def test_a_login_on_one_instance_clears_its_failures_on_the_other(
    instances: list[webtest.TestApp],
) -> None:
    first, second = instances
    for _ in range(2):
        obtain(on(first), "alice", "wrong", 401)
    obtain(on(second), "alice", PASSWORDS["alice"], 200)
    for _ in range(2):
        obtain(on(first), "alice", "wrong", 401)
    obtain(on(first), "alice", PASSWORDS["alice"], 200)
