"""A real app for WebTest: SQLite file (or PostgreSQL), real blob folder, real hashing."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import webtest
from webtest.http import StopableWSGIServer

from adapters.passwords import Argon2PasswordHasher
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.settings import Settings
from entrypoints.web import make_app

JWT_KEY = "a-test-signing-key-that-is-long-enough-0123456789"
MAX_FILE_SIZE = 1024 * 1024
# Cheap parameters: the tests check behaviour, not the hash's strength.
FAST_HASHER = Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"admin": "admin-secret-1", "alice": "alice-secret-1"}


def make_registry(database_url: str, blob_root: Path, **overrides: Any) -> Registry:
    settings = Settings(
        database_url=database_url,
        blob_root=blob_root,
        jwt_key=JWT_KEY,
        max_file_size=overrides.pop("max_file_size", MAX_FILE_SIZE),
        **overrides,
    )
    return Registry(settings, hasher=FAST_HASHER)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file, copied by each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "modelhub.sqlite"
    registry = make_registry(f"sqlite:///{path}", folder / "blobs")
    registry.initialise_database()
    registry.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    registry = make_registry(postgres_url, tmp_path_factory.mktemp("pg-blobs"))
    registry.initialise_database()
    registry.dispose()
    return postgres_url


def _fresh_postgres(url: str) -> None:
    """Empty every table but the seeded ones and Alembic's."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE pretrained_models, frameworks, users, blobs, login_failures, uploads "
                "CASCADE"
            )
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Each test's own empty (seeded) database, on both backends."""
    if request.param == "sqlite":
        path = tmp_path / "modelhub.sqlite"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("migrated_postgres_url")
    _fresh_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "modelhub.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@dataclass
class Api:
    """A WebTest app with an admin and a normal user, and a few shortcuts."""

    app: webtest.TestApp
    registry: Registry
    admin: dict[str, str]
    user: dict[str, str]

    def token(self, username: str) -> str:
        body = {"username": username, "password": PASSWORDS[username]}
        return self.app.post_json("/v1/auth/obtain", body).json["access"]

    def framework(self, name: str = "pytorch", version: str = "2.4") -> dict[str, Any]:
        body = {"name": name, "version": version}
        return self.app.post_json("/v1/frameworks/create", body, headers=self.admin).json

    def model(self, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "resnet50",
            "description": "ResNet-50 trained on ImageNet",
            "url": "https://example.org/resnet50",
            "domain": "ic",
            "licence": "MIT",
            **fields,
        }
        if "framework" not in body:
            body["framework"] = self.framework()["pk"]
        return self.app.post_json(
            "/v1/pretrained-models/create", body, headers=self.admin, status=201
        ).json

    def upload(self, pk: int, data: bytes, **kw: Any) -> webtest.TestResponse:
        return self.app.post(
            f"/v1/pretrained-models/{pk}/data",
            data,
            headers={
                **self.admin,
                "Content-Type": "application/data",
                "Content-Disposition": "attachment; filename=data",
            },
            **kw,
        )


def _build_api(database_url: str, blob_root: Path, **overrides: Any) -> Api:
    registry = make_registry(database_url, blob_root, **overrides)
    with registry.transaction() as services:
        for username, staff in (("admin", True), ("alice", False)):
            services.users.create(
                SYSTEM,
                {"username": username, "password": PASSWORDS[username], "is_staff": staff},
            )
    app = webtest.TestApp(make_app(registry))
    api = Api(app, registry, {}, {})
    api.admin = {"Authorization": f"Bearer {api.token('admin')}"}
    api.user = {"Authorization": f"Bearer {api.token('alice')}"}
    return api


def _api(database_url: str, blob_root: Path) -> Iterator[Api]:
    api = _build_api(database_url, blob_root)
    yield api
    api.registry.dispose()


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite."""
    yield from _api(sqlite_url, tmp_path / "blobs")


@pytest.fixture
def any_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    yield from _api(database_url, tmp_path / "blobs")


@dataclass
class LiveServer:
    """A waitress server in a thread, and a requests session logged in as admin."""

    url: str
    registry: Registry
    session: requests.Session
    blob_root: Path

    def api(self, path: str) -> str:
        return f"{self.url}/v1{path}"

    def model(self, name: str = "model", **fields: Any) -> int:
        """A new model's pk (with a framework of its own)."""
        return create_model(self.session, self.url, name, **fields)["pk"]

    def upload(self, pk: int, data: object) -> requests.Response:
        return self.session.post(
            self.api(f"/pretrained-models/{pk}/data"),
            data=data,
            headers={
                "Content-Type": "application/data",
                "Content-Disposition": "attachment; filename=data",
            },
            timeout=120,
        )

    def blob_files(self) -> list[Path]:
        return [p for p in (self.blob_root / "blobs").rglob("*") if p.is_file()]


def create_model(
    session: requests.Session, url: str, name: str = "model", **fields: Any
) -> dict[str, Any]:
    """A new model (with a framework of its own) through the server at
    ``url``, as the session's user; ``fields`` add to or replace the body."""
    framework = session.post(
        f"{url}/v1/frameworks/create", json={"name": name, "version": "1"}, timeout=30
    ).json()
    body = {
        "framework": framework["pk"],
        "domain": "ic",
        "licence": "MIT",
        "url": "https://example.org/model",
        "description": "",
        "name": name,
        **fields,
    }
    response = session.post(f"{url}/v1/pretrained-models/create", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def admin_session(url: str) -> requests.Session:
    """A session logged in as the tests' admin (``admin``/``pw``) at ``url``."""
    session = requests.Session()
    tokens = session.post(
        f"{url}/v1/auth/obtain", json={"username": "admin", "password": "pw"}, timeout=30
    ).json()
    session.headers["Authorization"] = f"Bearer {tokens['access']}"
    return session


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Starts waitress on a free port over a given database, with an admin."""
    started: list[tuple[StopableWSGIServer, Registry, requests.Session]] = []

    def start(database_url: str, threads: int = 4, **overrides: Any) -> LiveServer:
        blob_root = tmp_path / "blobs"
        overrides.setdefault("max_file_size", 256 * 1024 * 1024)
        registry = make_registry(database_url, blob_root, **overrides)
        with registry.transaction() as services:
            services.users.create(SYSTEM, {"username": "admin", "password": "pw", "is_staff": True})
        server = StopableWSGIServer.create(
            make_app(registry),
            host="127.0.0.1",
            threads=threads,
            max_request_body_size=2 * overrides["max_file_size"],
            expose_tracebacks=False,
        )
        # No server.wait(): its probe leaves a socket open, and the listening
        # socket already queues connections until the server thread serves them.
        url = server.application_url.rstrip("/")
        session = admin_session(url)
        started.append((server, registry, session))
        return LiveServer(url, registry, session, blob_root)

    yield start
    for server, registry, session in started:
        session.close()
        server.shutdown()
        registry.dispose()


@pytest.fixture
def start_server(sqlite_url: str, serve: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """Starts waitress on SQLite with the given thread count."""

    def start(threads: int = 4, max_file_size: int = 256 * 1024 * 1024) -> LiveServer:
        return serve(sqlite_url, threads, max_file_size=max_file_size)

    return start


@pytest.fixture
def make_api(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Builds the API on SQLite with some settings overridden."""
    built: list[Api] = []

    def make(**overrides: Any) -> Api:
        built.append(_build_api(sqlite_url, tmp_path / "blobs", **overrides))
        return built[-1]

    yield make
    for api in built:
        api.registry.dispose()
