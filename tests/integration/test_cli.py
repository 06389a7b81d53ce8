"""The first start and the account script, run in-process on a temporary ini file."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from pyramid.paster import get_app

from entrypoints.cli import create_user, initdb
from tests.integration.conftest import APP_INI


@pytest.fixture
def ini(tmp_path: Path) -> str:
    path = tmp_path / "test.ini"
    path.write_text(APP_INI)
    return str(path)


def _rows(ini: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(f"sqlite:///{Path(ini).parent}/var/modelhub.sqlite")
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.text(sql))]
    engine.dispose()
    return rows


def test_first_start_creates_seeds_and_explains(ini: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        get_app(ini)
    assert _rows(ini, "SELECT count(*) FROM domains") == [(5,)]
    assert _rows(ini, "SELECT count(*) FROM licences") == [(14,)]
    assert "modelhub -c test.ini user add admin --admin" in caplog.text
    key = (Path(ini).parent / "var" / "jwt.key").read_text()
    assert len(key) >= 32
    # A second start keeps the data and the key.
    get_app(ini)
    assert _rows(ini, "SELECT count(*) FROM domains") == [(5,)]
    assert (Path(ini).parent / "var" / "jwt.key").read_text() == key


def test_initdb_is_idempotent(ini: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert initdb.main([ini]) == 0
    assert "19 seed rows added" in capsys.readouterr().out
    assert initdb.main([ini]) == 0
    assert "0 seed rows added" in capsys.readouterr().out


def test_create_user_reads_the_password_from_stdin(
    ini: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert create_user.main([ini, "root", "--admin"], stdin=io.StringIO("s3cret pass\n")) == 0
    assert "created admin 'root'" in capsys.readouterr().out
    ((username, staff, password_hash),) = _rows(
        ini, "SELECT username, is_staff, password_hash FROM users"
    )
    assert (username, bool(staff)) == ("root", True)
    assert "s3cret" not in password_hash and password_hash.startswith("$argon2")

    assert create_user.main([ini, "bob"], stdin=io.StringIO("another one\n")) == 0
    assert create_user.main([ini, "bob"], stdin=io.StringIO("again\n")) == 1
    assert "already exists" in capsys.readouterr().err
    assert create_user.main([ini, "carol"], stdin=io.StringIO("\n")) == 1
    assert "password: This field may not be blank." in capsys.readouterr().err
    staff = _rows(ini, "SELECT username, is_staff FROM users ORDER BY username")
    assert [(name, bool(flag)) for name, flag in staff] == [("bob", False), ("root", True)]
