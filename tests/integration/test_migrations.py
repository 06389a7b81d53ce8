"""The Alembic migrations are the only source of the schema: they run on an
empty SQLite or PostgreSQL database, again harmlessly, and the schema they
make is exactly the one ``tables.metadata`` describes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, insert, inspect, select, text

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade
from adapters.sqlalchemy.session import make_engine
from domain.catalogue.ufdl import LICENCES as UFDL_LICENCES
from domain.permissions import SYSTEM
from entrypoints.bootstrap import Registry
from entrypoints.settings import Settings
from tests.integration.sql_databases import postgres_schema, sqlite_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (a PostgreSQL schema of its own)."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "nested" / "folder")
        yield engine
        engine.dispose()
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), "migrations") as engine:
        yield engine


def schema_differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_upgrade_creates_the_schema_of_the_tables_module(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert inspect(empty_engine).get_table_names() == []

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision() == "0007"
    assert set(inspect(empty_engine).get_table_names()) == {
        *tables.metadata.tables,
        "alembic_version",
    }
    assert schema_differences(empty_engine, tables.metadata) == []


def test_upgrading_again_is_harmless(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(insert(tables.blobs).values(sha256="a" * 64, size=1, refcount=1))

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        assert connection.execute(select(tables.blobs.c.refcount)).scalars().all() == [1]
    assert schema_differences(empty_engine, tables.metadata) == []


def test_the_comparison_sees_a_schema_that_differs(empty_engine: Engine) -> None:
    """Guards the test above: a metadata with one more column is not 'equal'."""
    upgrade(empty_engine)
    changed = MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["blobs"].append_column(Column("extra", Integer))
    differences = schema_differences(empty_engine, changed)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


def test_upgrade_works_on_an_in_memory_database() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine, tables.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_users(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, first_name, last_name, email,"
                " is_active, is_staff, is_superuser) VALUES ('ada', 'h', '', '', '',"
                " true, true, false)"
            )
        )
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(select(tables.users.c.username, tables.users.c.token_generation))
        assert [tuple(row) for row in rows] == [("ada", 0)]


# -- UFDL's licences (0005) ---------------------------------------------------

SUBDESCRIPTORS = ("domains", "permissions", "limitations", "conditions")
# The tables as revision 0003 has them (later revisions may add columns).
OLD_DOMAINS = sa.table("domains", sa.column("name"), sa.column("description"))
OLD_LICENCES = sa.table(
    "licences",
    sa.column("id"),
    sa.column("name"),
    sa.column("url"),
    *(sa.column(kind, sa.JSON()) for kind in SUBDESCRIPTORS),
)
OLD_FRAMEWORKS = sa.table("frameworks", sa.column("name"), sa.column("version"))
OLD_MODELS = sa.table(
    "pretrained_models",
    *(
        sa.column(name)
        for name in (
            "id", "framework_id", "domain_id", "licence_id", "name", "description", "url",
            "metadata", "creation_time",
        )
    ),
)  # fmt: skip

# What modelhub seeded until it seeded UFDL's licences: SPDX spellings.
EARLIER_LICENCES = (
    ("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", ["Patent use"]),
    ("MIT", "https://opensource.org/licenses/MIT", ["Commercial use"]),
    ("BSD-3-Clause", "https://opensource.org/licenses/BSD-3-Clause", ["Private use"]),
    ("GPL-3.0", "https://www.gnu.org/licenses/gpl-3.0.html", ["Patent use"]),
    ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/", ["Modification"]),
    ("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", ["Modification"]),
    ("CC-BY-SA-4.0", "https://creativecommons.org/licenses/by-sa/4.0/", ["Distribution"]),
    ("proprietary", "https://en.wikipedia.org/wiki/Proprietary_software", ["Private use"]),
)


def rows(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        ordered = select(*table.c).order_by(table.c.id)
        return [tuple(row) for row in connection.execute(ordered)]


def seed_as_at_0003(engine: Engine) -> None:
    """A registry at 0003, seeded as modelhub seeded it then, with models
    using the SPDX-spelled licences."""
    upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(
            OLD_DOMAINS.insert(),
            [
                {"name": "ic", "description": "Image Classification"},
                {"name": "od", "description": "Object Detection"},
                {"name": "is", "description": "Image Segmentation"},
                {"name": "sp", "description": "Speech"},
                {"name": "sc", "description": "Spectrum Classification"},
            ],
        )
        connection.execute(
            OLD_LICENCES.insert(),
            [
                {"name": name, "url": url, "domains": [], "permissions": permissions,
                 "limitations": ["Liability"], "conditions": []}
                for name, url, permissions in EARLIER_LICENCES
            ],
        )  # fmt: skip
        connection.execute(OLD_FRAMEWORKS.insert(), [{"name": "pytorch", "version": "2.4"}])
        connection.execute(
            OLD_MODELS.insert(),
            [
                {"framework_id": 1, "domain_id": 1, "licence_id": licence, "name": name,
                 "description": "", "url": f"https://example.org/{name}", "metadata": "",
                 "creation_time": datetime(2026, 11, 30, tzinfo=UTC)}
                for name, licence in (("resnet", 1), ("yolo", 2), ("secret", 8))
            ],
        )  # fmt: skip


def registry_on(engine: Engine, tmp_path: Path) -> Registry:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        blob_root=tmp_path / "blobs",
        jwt_key="a-test-signing-key-that-is-long-enough-0123456789",
    )
    return Registry(settings, engine=engine)


def test_a_new_database_gets_ufdls_licences_from_the_seed_with_ufdls_pks(
    empty_engine: Engine, tmp_path: Path
) -> None:
    upgrade(empty_engine)
    assert rows(empty_engine, OLD_LICENCES) == []  # the migrations write no rows
    assert registry_on(empty_engine, tmp_path).initialise_database() == 5 + 14
    assert [row[:3] for row in rows(empty_engine, OLD_LICENCES)] == [
        (pk, licence.name, licence.url) for pk, licence in enumerate(UFDL_LICENCES, 1)
    ]


def test_0005_adds_ufdls_licences_to_a_registry_seeded_before_and_keeps_its_rows(
    empty_engine: Engine, tmp_path: Path
) -> None:
    seed_as_at_0003(empty_engine)
    licences_before, models_before = (
        rows(empty_engine, OLD_LICENCES),
        rows(empty_engine, OLD_MODELS),
    )

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    licences = rows(empty_engine, OLD_LICENCES)
    assert licences[:8] == licences_before  # untouched, MIT and the CC ones included
    spelled_alike = {"MIT", "CC-BY-4.0", "CC-BY-SA-4.0"}
    assert [row[1:] for row in licences[8:]] == [
        (licence.name, licence.url, *(getattr(licence, kind) for kind in SUBDESCRIPTORS))
        for licence in UFDL_LICENCES
        if licence.name not in spelled_alike
    ]
    assert rows(empty_engine, OLD_MODELS) == models_before

    # initdb finds nothing to add, and the earlier names still name their rows.
    registry = registry_on(empty_engine, tmp_path)
    assert registry.initialise_database() == 0
    assert rows(empty_engine, OLD_LICENCES) == licences
    with registry.transaction() as services:
        framework = services.frameworks.get_or_create(SYSTEM, "pytorch", "2.4")
        body = {"framework": framework.pk, "domain": "ic", "url": "https://example.org/m",
                "description": ""}  # fmt: skip
        given = ("Apache-2.0", "Apache 2.0", "GPL-3.0", "GPL3", "BSD-2-Clause", "proprietary")
        named = [
            services.models.create(SYSTEM, {**body, "name": name, "licence": name}).licence
            for name in given
        ]
    pk_of = {row[1]: row[0] for row in licences}
    expected = ("Apache-2.0", "Apache 2.0", "GPL-3.0", "GPL3", "BSD 2-clause", "proprietary")
    assert [(licence.pk, licence.name) for licence in named] == [
        (pk_of[name], name) for name in expected
    ]
    assert (pk_of["Apache-2.0"], pk_of["GPL-3.0"], pk_of["proprietary"]) == (1, 4, 8)
