"""The ``batch`` fixture: the ``modelhub`` command run in-process on a
temporary ini file (a SQLite file and a blob folder under ``tmp_path``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pyramid.paster import get_appsettings

from domain.clock import Clock
from domain.model import PretrainedModel
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry, Services
from entrypoints.cli.main import main
from entrypoints.settings import load_settings
from tests.integration.s3_server import S3Server, new_bucket
from tests.integration.s3_server import s3_server as s3_servers

# The embedded default under a test's folder: what every in-process ini shares.
APP_INI = """\
[app:main]
use = egg:modelhub
sqlalchemy.url = sqlite:///%(here)s/var/modelhub.sqlite
modelhub.blob_root = %(here)s/var/blobs
modelhub.jwt_key_file = %(here)s/var/jwt.key
modelhub.auto_migrate = true
"""
BATCH_INI = (
    APP_INI
    + """\
modelhub.fetch_timeout = 1
modelhub.fetch_retries = 2
"""
)


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@dataclass
class Batch:
    root: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def ini(self) -> str:
        return str(self.root / "test.ini")

    @property
    def blob_root(self) -> Path:
        return self.root / "var" / "blobs"

    def run(self, *args: str, stdin: str = "") -> Outcome:
        """``modelhub -c test.ini ARGS``: its exit code and what it printed."""
        self.capsys.readouterr()
        code = main(["-c", self.ini, *args], stdin=io.StringIO(stdin))
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    def rows(self, sql: str) -> list[tuple]:
        engine = sa.create_engine(f"sqlite:///{self.root}/var/modelhub.sqlite")
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sa.text(sql))]
        finally:
            engine.dispose()

    def execute(self, sql: str) -> None:
        """Change the database behind the command's back (to damage it)."""
        engine = sa.create_engine(f"sqlite:///{self.root}/var/modelhub.sqlite")
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(sql))
        finally:
            engine.dispose()

    def blob_path(self, sha256: str) -> Path:
        return self.blob_root / "blobs" / sha256[:2] / sha256[2:4] / sha256

    def blob_files(self) -> dict[str, bytes]:
        folder = self.blob_root / "blobs"
        return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def registry(self, clock: Clock | None = None) -> Registry:
        """The composition root the command builds, for setting up a test."""
        return Registry(load_settings(get_appsettings(self.ini)), clock=clock)


@pytest.fixture
def batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Batch]:
    (tmp_path / "test.ini").write_text(BATCH_INI)
    yield Batch(tmp_path, capsys)


def new_model(services: Services, name: str = "m") -> PretrainedModel:
    """A model without a file (and a framework for it), made through the services."""
    framework = services.frameworks.get_or_create(SYSTEM, "onnx", "1")
    body = {"framework": framework.pk, "domain": "ic", "licence": "MIT", "name": name}
    return services.models.create(
        SYSTEM, {**body, "url": "https://example.org/m", "description": ""}
    )


def entry(name: str, file: str | None = None, **fields: Any) -> dict[str, Any]:
    """A manifest entry with valid defaults; ``fields`` override them."""
    item = {
        "name": name,
        "framework": {"name": "pytorch", "version": "2.4"},
        "domain": "ic",
        "licence": "MIT",
        "url": f"https://example.org/{name}",
        "description": f"The {name} model",
        "metadata": "",
        **fields,
    }
    if file is not None:
        item["file"] = file
    return item


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server for the session, its credentials in the
    environment boto3 reads (see ``tests/integration/s3_server.py``)."""
    with pytest.MonkeyPatch.context() as patch:
        for server in s3_servers():
            for name, value in server.environ().items():
                patch.setenv(name, value)
            yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """A fresh bucket of the test's own."""
    yield from new_bucket(s3_server)
