"""The repository, filter and blob-index contract, written once and run
against the in-memory fakes, SQLite (a file) and PostgreSQL.

The fakes are what the unit tests trust, so every behaviour here must be the
same on all three backends. Each test gets a fresh, empty store: a new fake,
or the database tables emptied after the test (the blob index's collection
commits on a connection of its own, which a rolled-back outer transaction
could not host).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import transaction
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError

from adapters.memory import MemoryUnitOfWork
from adapters.sqlalchemy.orm import start_mappers
from adapters.sqlalchemy.session import make_session_factory, tm_session
from adapters.sqlalchemy.uow import SqlUnitOfWork
from domain import filters as f
from domain.model import BlobRef, DataDomain, Framework, Licence, PretrainedModel, Upload, User
from domain.paging import PageRequest
from domain.ports import UnitOfWork
from domain.records import ModelRecord
from domain.resources import DOMAIN, FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER
from domain.services.seed import DOMAINS, LICENCES, seed
from tests.integration.sql_databases import (
    empty_tables,
    migrated_engine,
    use_linguistic_collation,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "b" * 64


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def refcount(uow: UnitOfWork, sha256: str) -> int:
    """The blob index's count for ``sha256`` (0 when it has no row)."""
    return uow.blobs.all().get(sha256, 0)


# -- backends ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with _migrated("sqlite", request, "contract") as engine:
        yield engine


@pytest.fixture(scope="module")
def postgres_db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with _migrated("postgresql", request, "contract") as engine:
        yield engine


@contextmanager
def _migrated(backend: str, request: pytest.FixtureRequest, name: str) -> Iterator[Engine]:
    """A new migrated SQLite file or PostgreSQL schema."""
    start_mappers()
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    with migrated_engine(backend, request, factory.mktemp(name), name) as engine:
        yield engine


def _sql_uow(engine: Engine, empty_after: bool = True) -> Iterator[SqlUnitOfWork]:
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    session = tm_session(make_session_factory(engine), manager)
    try:
        yield SqlUnitOfWork(session, manager)
    finally:
        manager.abort()
        session.close()
        if empty_after:
            empty_tables(engine)


SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
BACKENDS = ["memory", *SQL_BACKENDS]


@pytest.fixture(params=BACKENDS)
def uow(request: pytest.FixtureRequest) -> Iterator[UnitOfWork]:
    """A fresh, empty unit of work on each backend."""
    if request.param == "memory":
        yield MemoryUnitOfWork()
        return
    engine = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")
    yield from _sql_uow(engine)


@pytest.fixture(params=SQL_BACKENDS)
def sql_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "postgres_db")


@pytest.fixture
def sql_uow(sql_engine: Engine) -> Iterator[SqlUnitOfWork]:
    yield from _sql_uow(sql_engine)


# -- users, frameworks, domains, licences -----------------------------------


def test_user_add_get_lookup_delete(uow: UnitOfWork) -> None:
    alice = User(
        "alice",
        password_hash="hash$1",
        first_name="Alice",
        last_name="Liddell",
        email="alice@example.org",
        is_staff=True,
        date_joined=hours(1),
        last_login=hours(2),
    )
    uow.users.add(alice)
    assert isinstance(alice.pk, int)
    uow.users.add(User("bob"))
    uow.commit()

    found = uow.users.get(alice.pk)
    assert found is not None
    assert (found.username, found.password_hash, found.first_name, found.last_name) == (
        "alice",
        "hash$1",
        "Alice",
        "Liddell",
    )
    assert (found.email, found.is_active, found.is_staff, found.is_superuser) == (
        "alice@example.org",
        True,
        True,
        False,
    )
    assert found.date_joined == hours(1) and found.date_joined.utcoffset() == timedelta(0)
    assert found.last_login == hours(2)
    assert uow.users.get_by_username("alice") is found
    assert uow.users.get_by_username("Alice") is None
    assert uow.users.get_by_username("nobody") is None
    assert uow.users.get(10_000) is None

    uow.users.delete(found)
    uow.commit()
    assert uow.users.get(alice.pk) is None
    assert uow.users.get_by_username("alice") is None
    assert [u.username for u in uow.users.list(f.FilterSpec())] == ["bob"]


def test_user_changes_are_saved(uow: UnitOfWork) -> None:
    user = User("carol")
    uow.users.add(user)
    uow.commit()
    loaded = uow.users.get(user.pk)  # type: ignore[arg-type]
    assert loaded is not None
    loaded.is_active = False
    loaded.last_login = hours(5)
    uow.commit()
    again = uow.users.get(user.pk)  # type: ignore[arg-type]
    assert again is not None
    assert again.is_active is False
    assert again.last_login == hours(5)


def test_framework_add_get_lookup_delete(uow: UnitOfWork) -> None:
    torch, tf = Framework("PyTorch", "2.1"), Framework("TensorFlow", "2.15")
    uow.frameworks.add(torch)
    uow.frameworks.add(tf)
    assert isinstance(torch.pk, int) and isinstance(tf.pk, int) and torch.pk != tf.pk
    uow.commit()

    found = uow.frameworks.get_by_name_version("PyTorch", "2.1")
    assert found is not None and found.pk == torch.pk
    assert (found.name, found.version) == ("PyTorch", "2.1")
    assert uow.frameworks.get_by_name_version("PyTorch", "2.15") is None
    assert uow.frameworks.get_by_name_version("pytorch", "2.1") is None
    assert uow.frameworks.get(torch.pk) is found

    uow.frameworks.delete(found)
    uow.commit()
    assert uow.frameworks.get(torch.pk) is None
    assert [x.pk for x in uow.frameworks.list(f.FilterSpec())] == [tf.pk]


def test_domain_add_get_lookup_delete(uow: UnitOfWork) -> None:
    ic = DataDomain("ic", "Image Classification")
    uow.domains.add(ic)
    uow.commit()
    found = uow.domains.get_by_name("ic")
    assert found is not None and found.pk == ic.pk
    assert found.description == "Image Classification"
    assert uow.domains.get_by_name("IC") is None
    uow.domains.delete(found)
    uow.commit()
    assert uow.domains.get(ic.pk) is None  # type: ignore[arg-type]


def test_licence_lists_round_trip(uow: UnitOfWork) -> None:
    mit = Licence("MIT", "https://opensource.org/licenses/MIT", permissions=["Private use"])
    uow.licences.add(mit)
    uow.commit()

    found = uow.licences.get_by_name("MIT")
    assert found is not None and found.pk == mit.pk
    assert found.url == "https://opensource.org/licenses/MIT"
    assert (found.domains, found.permissions, found.limitations, found.conditions) == (
        [],
        ["Private use"],
        [],
        [],
    )
    found.domains = ["ic", "od"]
    found.permissions.append("Distribution")
    uow.commit()

    again = uow.licences.get(mit.pk)  # type: ignore[arg-type]
    assert again is not None
    assert again.domains == ["ic", "od"]
    assert again.permissions == ["Private use", "Distribution"]
    assert uow.licences.get_by_name("mit") is None
    uow.licences.delete(again)
    uow.commit()
    assert uow.licences.get_by_name("MIT") is None


def test_seed_adds_missing_rows_once(uow: UnitOfWork) -> None:
    assert seed(uow) == len(DOMAINS) + len(LICENCES)
    uow.commit()
    assert seed(uow) == 0
    uow.commit()
    names = [d.name for d in uow.domains.list(f.FilterSpec())]
    assert names == [name for name, _ in DOMAINS]
    apache = uow.licences.get_by_name("Apache 2.0")
    assert apache is not None and "Patent use" in apache.permissions
    licences = uow.licences.list(f.FilterSpec())
    assert [(lic.pk, lic.name) for lic in licences] == [
        (pk, template.name) for pk, template in enumerate(LICENCES, 1)
    ]


# -- pretrained models --------------------------------------------------------


@dataclass
class Catalogue:
    """Five models, numbered 1 to 5 in the order they were added:

    | # | name      | framework  | domain | licence    | creator | created | deleted | data |
    |---|-----------|------------|--------|------------|---------|---------|---------|------|
    | 1 | ResNet-50 | PyTorch    | ic     | MIT        | alice   | +0h     |         | A    |
    | 2 | resnet-18 | PyTorch    | od     | Apache-2.0 | Bob     | +1h     | +10h    |      |
    | 3 | YOLO v8   | TensorFlow | od     | MIT        |         | +2h     | +5h     | B    |
    | 4 | BERT      | TensorFlow | ic     | Apache-2.0 | alice   | +3h     |         |      |
    | 5 | bert-tiny | PyTorch    | ic     | MIT        |         | +4h     |         | A    |
    """

    alice: User
    bob: User
    torch: Framework
    tf: Framework
    mit: Licence
    apache: Licence
    models: list[PretrainedModel]

    def pks(self, numbers: list[int]) -> list[int | None]:
        return [self.models[n - 1].pk for n in numbers]


@pytest.fixture
def catalogue(uow: UnitOfWork) -> Catalogue:
    return build_catalogue(uow)


@pytest.fixture(scope="module", params=BACKENDS)
def readonly(request: pytest.FixtureRequest) -> Iterator[tuple[UnitOfWork, Catalogue]]:
    """The catalogue, built once per backend for the tests that only read it
    (in a database of its own, which the other tests' cleaning never empties)."""
    if request.param == "memory":
        uow = MemoryUnitOfWork()
        yield uow, build_catalogue(uow)
        return
    with _migrated(request.param, request, "readonly") as engine:
        if request.param == "postgresql":
            use_linguistic_collation(engine)
        for sql_uow in _sql_uow(engine, empty_after=False):
            yield sql_uow, build_catalogue(sql_uow)


def build_catalogue(uow: UnitOfWork) -> Catalogue:
    """Add the catalogue of the ``Catalogue`` docstring and commit it."""
    alice, bob = User("alice"), User("Bob")
    torch, tf = Framework("PyTorch", "2.1"), Framework("TensorFlow", "2.15")
    ic, od = DataDomain("ic", "Image Classification"), DataDomain("od", "Object Detection")
    mit, apache = Licence("MIT"), Licence("Apache-2.0")
    for user in (alice, bob):
        uow.users.add(user)
    for framework in (torch, tf):
        uow.frameworks.add(framework)
    for domain in (ic, od):
        uow.domains.add(domain)
    for licence in (mit, apache):
        uow.licences.add(licence)
    rows: list[tuple[Any, ...]] = [
        # name, framework, domain, licence, creator, created, deleted, sha, description, metadata
        ("ResNet-50", torch, ic, mit, alice, 0, None, SHA_A, "Residual, 50% pruned_v1", "top1=76"),
        ("resnet-18", torch, od, apache, bob, 1, 10, None, "small residual net", ""),
        ("YOLO v8", tf, od, mit, None, 2, 5, SHA_B, "fast dv detector", ""),
        ("BERT", tf, ic, apache, alice, 3, None, None, "Transformer with 50 layers", "lang=en"),
        ("bert-tiny", torch, ic, mit, None, 4, None, SHA_A, "Tiny BERT_v2", ""),
    ]  # fmt: skip
    models = []
    for name, framework, domain, licence, creator, created, deleted, sha, desc, meta in rows:
        model = PretrainedModel(
            name,
            framework,
            domain,
            licence,
            url=f"https://models.example.org/{name}",
            description=desc,
            metadata=meta,
            creator=creator,
            creation_time=hours(created),
            deletion_time=None if deleted is None else hours(deleted),
        )
        if sha is not None:
            model.attach(BlobRef(sha, 100), hours(created))
        uow.models.add(model)
        models.append(model)
    uow.commit()
    return Catalogue(alice, bob, torch, tf, mit, apache, models)


def test_model_add_get_update_delete(uow: UnitOfWork, catalogue: Catalogue) -> None:
    first = catalogue.models[0]
    assert all(isinstance(m.pk, int) for m in catalogue.models)
    assert len({m.pk for m in catalogue.models}) == 5

    found = uow.models.get(first.pk)  # type: ignore[arg-type]
    assert found is not None
    assert (found.name, found.description, found.metadata) == (
        "ResNet-50",
        "Residual, 50% pruned_v1",
        "top1=76",
    )
    assert found.url == "https://models.example.org/ResNet-50"
    assert (found.framework.name, found.framework.version) == ("PyTorch", "2.1")
    assert found.domain.description == "Image Classification"
    assert found.licence.name == "MIT"
    assert found.creator is not None and found.creator.username == "alice"
    assert found.creation_time == hours(0) and found.creation_time.utcoffset() == timedelta(0)
    assert found.deletion_time is None
    assert found.blob == BlobRef(SHA_A, 100) and found.data_time == hours(0)

    found.attach(None, None)
    found.deletion_time = hours(7)
    tf = uow.frameworks.get(catalogue.tf.pk)  # type: ignore[arg-type]
    assert tf is not None
    found.framework = tf
    uow.commit()
    again = uow.models.get(first.pk)  # type: ignore[arg-type]
    assert again is not None
    assert again.blob is None and again.data_time is None
    assert again.deletion_time == hours(7)
    assert again.framework.name == "TensorFlow"

    uow.models.delete(again)
    uow.commit()
    assert uow.models.get(first.pk) is None  # type: ignore[arg-type]
    assert len(uow.models.list(f.FilterSpec())) == 4


def test_an_entity_added_with_a_pk_keeps_it_and_later_pks_come_after(
    uow: UnitOfWork, catalogue: Catalogue
) -> None:
    kept = Framework("JAX", "0.4", pk=50)
    uow.frameworks.add(kept)
    after = Framework("JAX", "0.5")
    uow.frameworks.add(after)
    assert (kept.pk, after.pk) == (50, 51)
    # A pk below the highest leaves the next one where it was.
    lower = Framework("JAX", "0.3", pk=20)
    uow.frameworks.add(lower)
    latest = Framework("JAX", "0.6")
    uow.frameworks.add(latest)
    assert (lower.pk, latest.pk) == (20, 52)
    licence = Licence("Unlicense", pk=40)
    uow.licences.add(licence)
    model = PretrainedModel(
        "kept",
        kept,
        catalogue.models[0].domain,
        licence,
        url="https://models.example.org/kept",
        description="",
        creation_time=hours(0),
        pk=70,
    )
    uow.models.add(model)
    uow.commit()
    found = uow.models.get(70)
    assert found is not None and (found.name, found.framework.pk, found.licence.pk) == (
        "kept",
        50,
        40,
    )
    assert [fw.pk for fw in uow.frameworks.list(f.FilterSpec()) if fw.name == "JAX"] == [
        20,
        50,
        51,
        52,
    ]
    fresh = Licence("0BSD")
    uow.licences.add(fresh)
    assert fresh.pk == 41


def test_uses_framework_and_licence(uow: UnitOfWork, catalogue: Catalogue) -> None:
    unused_framework, unused_licence = Framework("JAX", "0.4"), Licence("GPL-3.0")
    uow.frameworks.add(unused_framework)
    uow.licences.add(unused_licence)
    assert uow.models.uses_framework(catalogue.torch)
    assert uow.models.uses_framework(catalogue.tf)
    assert not uow.models.uses_framework(unused_framework)
    assert uow.models.uses_licence(catalogue.mit)
    assert not uow.models.uses_licence(unused_licence)

    for model in uow.models.list(f.FilterSpec()):
        if model.licence.name == "Apache-2.0":
            uow.models.delete(model)
    assert not uow.models.uses_licence(catalogue.apache)
    assert uow.models.uses_licence(catalogue.mit)


Raw = Callable[[Catalogue], dict[str, Any]]


def _exact(field: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "exact", "field": field, "value": value, **extra}


def _contains(field: str, sub: str, **extra: Any) -> dict[str, Any]:
    return {"type": "contains", "field": field, "sub_string": sub, **extra}


def _compare(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "compare", "field": field, "operator": op, "value": value, **extra}


def _isnull(field: str, **extra: Any) -> dict[str, Any]:
    return {"type": "isnull", "field": field, **extra}


def _where(*expressions: dict[str, Any]) -> Raw:
    return lambda _: {"expressions": list(expressions)}


FILTER_CASES: dict[str, tuple[Raw, list[int]]] = {
    "no filter": (lambda _: {}, [1, 2, 3, 4, 5]),
    "exact": (_where(_exact("name", "BERT")), [4]),
    "exact is case-sensitive": (_where(_exact("name", "bert")), []),
    "exact case_insensitive": (_where(_exact("name", "bert", case_insensitive=True)), [4]),
    "exact timestamp": (_where(_exact("creation_time", "2024-01-01T01:00:00Z")), [2]),
    "exact int": (lambda c: {"expressions": [_exact("framework", c.torch.pk)]}, [1, 2, 5]),
    "contains is case-sensitive": (_where(_contains("name", "res")), [2]),
    "contains keeps case": (_where(_contains("name", "Res")), [1]),
    "contains case_insensitive": (_where(_contains("name", "RES", case_insensitive=True)), [1, 2]),
    "contains a literal %": (_where(_contains("description", "50%")), [1]),
    "contains a literal _": (_where(_contains("description", "_v")), [1, 5]),
    "contains a literal _, case_insensitive": (
        _where(_contains("description", "_V", case_insensitive=True)),
        [1, 5],
    ),
    "contains the empty string": (_where(_contains("metadata", "")), [1, 2, 3, 4, 5]),
    "contains in metadata": (_where(_contains("metadata", "=")), [1, 4]),
    "isnull": (_where(_isnull("deletion_time")), [1, 4, 5]),
    "is_null spelling, inverted": (
        _where({"type": "is_null", "field": "deletion_time", "invert": True}),
        [2, 3],
    ),
    "isnull on a foreign key": (_where(_isnull("creator")), [3, 5]),
    "isnull through a missing relation": (_where(_isnull("creator.username")), [3, 5]),
    "isnull on data is never true": (_where(_isnull("data")), []),
    "compare int": (lambda c: {"expressions": [_compare("pk", ">", c.models[1].pk)]}, [3, 4, 5]),
    "compare int with a float": (
        lambda c: {"expressions": [_compare("pk", "<=", c.models[1].pk + 0.5)]},
        [1, 2],
    ),
    "compare nullable int": (
        lambda c: {"expressions": [_compare("creator", "<=", c.alice.pk)]},
        [1, 4],
    ),
    "compare string by code point": (_where(_compare("name", "<", "a")), [1, 3, 4]),
    "compare string >=": (_where(_compare("name", ">=", "bert")), [2, 5]),
    "compare timestamp": (
        _where(_compare("creation_time", ">=", "2024-01-01T02:00:00Z")),
        [3, 4, 5],
    ),
    "compare timestamp with an offset": (
        _where(_compare("creation_time", "<", "2024-01-01T03:00:00+01:00")),
        [1, 2],
    ),
    "compare nullable timestamp": (
        _where(_compare("deletion_time", "<", "2024-01-01T06:00:00Z")),
        [3],
    ),
    "compare nullable timestamp, inverted": (
        _where(_compare("deletion_time", "<", "2024-01-01T06:00:00Z", invert=True)),
        [1, 2, 4, 5],
    ),
    "exact nullable int, inverted keeps nulls": (
        lambda c: {"expressions": [_exact("creator", c.alice.pk, invert=True)]},
        [2, 3, 5],
    ),
    "contains through a relation, inverted keeps nulls": (
        _where(_contains("creator.username", "ali", invert=True)),
        [2, 3, 5],
    ),
    "data true": (_where(_exact("data", True)), [1, 3, 5]),
    "data false": (_where(_exact("data", False)), [2, 4]),
    "data true, inverted": (_where(_exact("data", True, invert=True)), [2, 4]),
    "creator.username": (_where(_exact("creator.username", "Bob")), [2]),
    "creator.username case_insensitive": (
        _where(_exact("creator.username", "BOB", case_insensitive=True)),
        [2],
    ),
    "framework.name": (_where(_exact("framework.name", "TensorFlow")), [3, 4]),
    "framework.name case_insensitive": (
        _where(_exact("framework.name", "pytorch", case_insensitive=True)),
        [1, 2, 5],
    ),
    "framework.version": (_where(_exact("framework.version", "2.15")), [3, 4]),
    "domain.name": (_where(_exact("domain.name", "ic")), [1, 4, 5]),
    "domain.description": (
        _where(_exact("domain.description", "object detection", case_insensitive=True)),
        [2, 3],
    ),
    "domain.description contains": (_where(_contains("domain.description", "Class")), [1, 4, 5]),
    "licence.name": (_where(_exact("licence.name", "MIT")), [1, 3, 5]),
    "and": (
        _where(
            {
                "type": "and",
                "sub_expressions": [
                    _exact("framework.name", "TensorFlow"),
                    _exact("domain.name", "od"),
                ],
            }
        ),
        [3],
    ),
    "or": (
        _where(
            {
                "type": "or",
                "sub_expressions": [_exact("creator.username", "Bob"), _exact("data", True)],
            }
        ),
        [1, 2, 3, 5],
    ),
    "nested": (
        _where(
            {
                "type": "or",
                "sub_expressions": [
                    {
                        "type": "and",
                        "sub_expressions": [
                            _exact("framework.name", "PyTorch"),
                            _exact("data", True),
                        ],
                    },
                    {
                        "type": "and",
                        "sub_expressions": [
                            _exact("licence.name", "Apache-2.0"),
                            _isnull("deletion_time"),
                        ],
                    },
                ],
            }
        ),
        [1, 4, 5],
    ),
    "inverted and": (
        _where(
            {
                "type": "and",
                "invert": True,
                "sub_expressions": [
                    _exact("framework.name", "PyTorch"),
                    _exact("domain.name", "ic"),
                ],
            }
        ),
        [2, 3, 4],
    ),
    "inverted or over a nullable field": (
        lambda c: {
            "expressions": [
                {
                    "type": "or",
                    "invert": True,
                    "sub_expressions": [_exact("creator", c.alice.pk), _isnull("creator")],
                }
            ]
        },
        [2],
    ),
    "expressions narrow each other": (
        _where(_exact("data", True), _exact("framework.name", "PyTorch")),
        [1, 5],
    ),
}


def _order(*keys: dict[str, Any], expressions: list[dict[str, Any]] | None = None) -> Raw:
    return lambda _: {"expressions": expressions or [], "order_by": list(keys)}


ORDER_CASES: dict[str, tuple[Raw, list[int]]] = {
    "nullable ascending, nulls unset: last": (
        _order({"field": "deletion_time"}),
        [3, 2, 1, 4, 5],
    ),
    "nullable descending, nulls unset: first": (
        _order({"field": "deletion_time", "ascending": False}),
        [1, 4, 5, 2, 3],
    ),
    "ascending, nulls first": (
        _order({"field": "deletion_time", "nulls_first": True}),
        [1, 4, 5, 3, 2],
    ),
    "ascending, nulls last": (
        _order({"field": "deletion_time", "nulls_first": False}),
        [3, 2, 1, 4, 5],
    ),
    "descending, nulls last": (
        _order({"field": "deletion_time", "ascending": False, "nulls_first": False}),
        [2, 3, 1, 4, 5],
    ),
    "descending, nulls first": (
        _order({"field": "deletion_time", "ascending": False, "nulls_first": True}),
        [1, 4, 5, 2, 3],
    ),
    "text by code point": (_order({"field": "name"}), [4, 1, 3, 5, 2]),
    "pk descending": (_order({"field": "pk", "ascending": False}), [5, 4, 3, 2, 1]),
    "several keys": (
        _order({"field": "framework.name", "ascending": False}, {"field": "creation_time"}),
        [3, 4, 1, 2, 5],
    ),
    "bool, then a nullable relation field": (
        _order({"field": "data", "ascending": False}, {"field": "creator.username"}),
        [1, 3, 5, 2, 4],
    ),
    "nullable relation field descending": (
        _order({"field": "creator.username", "ascending": False}),
        [3, 5, 1, 4, 2],
    ),
    "ties broken by pk": (_order({"field": "licence.name"}), [2, 4, 1, 3, 5]),
    "filtered and ordered": (
        _order(
            {"field": "creation_time", "ascending": False},
            expressions=[_isnull("deletion_time")],
        ),
        [5, 4, 1],
    ),
}


SPEC_CASES = {**FILTER_CASES, **ORDER_CASES}


@pytest.mark.parametrize("case", SPEC_CASES.values(), ids=SPEC_CASES.keys())
def test_model_filters_and_orderings(
    readonly: tuple[UnitOfWork, Catalogue], case: tuple[Raw, list[int]]
) -> None:
    uow, catalogue = readonly
    raw, expected = case
    spec = f.parse_filter(raw(catalogue), PRETRAINED_MODEL.filters)
    found = uow.models.list(spec)
    shown = [ModelRecord.of(m) for m in found]
    records = uow.models.records(spec)
    uow.abort()
    assert [m.pk for m in found] == catalogue.pks(expected), [m.name for m in found]
    assert records == shown


def test_pages_of_a_listing(readonly: tuple[UnitOfWork, Catalogue]) -> None:
    uow, catalogue = readonly
    spec = f.parse_filter(
        {
            "expressions": [{"type": "exact", "field": "domain.name", "value": "ic"}],
            "order_by": [{"field": "name"}],
        },
        PRETRAINED_MODEL.filters,
    )
    pages = [uow.models.page(spec, PageRequest(n, 2)) for n in (1, 2, 3)]
    frameworks = uow.frameworks.page(f.FilterSpec(), PageRequest(2, 1))
    uow.abort()
    assert [[m.pk for m in p.items] for p in pages] == [
        catalogue.pks([4, 1]),
        catalogue.pks([5]),
        [],
    ]
    assert {p.total for p in pages} == {3}
    assert [m.name for m in frameworks.items] == ["TensorFlow"] and frameworks.total == 2


def test_filters_on_the_other_repositories(uow: UnitOfWork, catalogue: Catalogue) -> None:
    alice = uow.users.get(catalogue.alice.pk)  # type: ignore[arg-type]
    assert alice is not None
    alice.is_staff = True
    alice.date_joined = hours(1)
    alice.last_login = hours(2)
    uow.users.add(User("carol", is_active=False, date_joined=hours(3)))
    uow.commit()

    def users(raw: dict[str, Any]) -> list[str]:
        return [u.username for u in uow.users.list(f.parse_filter(raw, USER.filters))]

    assert users({"expressions": [_exact("is_staff", True)]}) == ["alice"]
    assert users({"expressions": [_exact("is_staff", False)]}) == ["Bob", "carol"]
    assert users({"expressions": [_exact("is_active", False, invert=True)]}) == ["alice", "Bob"]
    assert users({"expressions": [_isnull("last_login")]}) == ["Bob", "carol"]
    assert users({"expressions": [_compare("date_joined", ">", "2024-01-01T01:00:00Z")]}) == [
        "carol"
    ]
    assert users({"order_by": [{"field": "username"}]}) == ["Bob", "alice", "carol"]
    assert users({"order_by": [{"field": "date_joined", "ascending": False}]}) == [
        "Bob",
        "carol",
        "alice",
    ]

    def frameworks(raw: dict[str, Any]) -> list[str]:
        found = uow.frameworks.list(f.parse_filter(raw, FRAMEWORK.filters))
        return [x.name for x in found]

    assert frameworks({"expressions": [_contains("name", "Torch")]}) == ["PyTorch"]
    assert frameworks({"expressions": [_contains("name", "torch")]}) == []
    assert frameworks({"order_by": [{"field": "version", "ascending": False}]}) == [
        "TensorFlow",
        "PyTorch",
    ]

    def licences(raw: dict[str, Any]) -> list[str]:
        return [x.name for x in uow.licences.list(f.parse_filter(raw, LICENCE.filters))]

    assert licences({"order_by": [{"field": "name", "ascending": False}]}) == [
        "MIT",
        "Apache-2.0",
    ]
    assert licences({"expressions": [_exact("name", "mit", case_insensitive=True)]}) == ["MIT"]

    def domains(raw: dict[str, Any]) -> list[str]:
        return [x.name for x in uow.domains.list(f.parse_filter(raw, DOMAIN.filters))]

    od = {"expressions": [_contains("description", "OBJECT", case_insensitive=True)]}
    assert domains(od) == ["od"]


# -- blob index and unit of work --------------------------------------------


class FileLog:
    """A ``delete_file`` callback that records its calls."""

    def __init__(self) -> None:
        self.deleted: list[BlobRef] = []

    def __call__(self, ref: BlobRef) -> None:
        self.deleted.append(ref)


def test_blob_references_are_counted_and_collected_at_zero(uow: UnitOfWork) -> None:
    ref, other = BlobRef(SHA_A, 10), BlobRef(SHA_B, 20)
    assert refcount(uow, ref.sha256) == 0
    uow.blobs.acquire(ref)
    uow.blobs.acquire(ref)
    uow.blobs.acquire(other)
    uow.commit()
    assert refcount(uow, ref.sha256) == 2
    assert refcount(uow, other.sha256) == 1

    files = FileLog()
    uow.blobs.release(ref)
    uow.commit()
    assert refcount(uow, ref.sha256) == 1
    assert uow.blobs.collect(ref, files) is False
    assert files.deleted == []

    uow.blobs.release(ref)
    uow.commit()
    assert refcount(uow, ref.sha256) == 0
    assert uow.blobs.collect(ref, files) is True
    assert files.deleted == [ref]
    assert refcount(uow, ref.sha256) == 0
    assert uow.blobs.collect(ref, files) is False
    assert files.deleted == [ref]
    assert refcount(uow, other.sha256) == 1


def test_blob_reacquired_before_collection_is_kept(uow: UnitOfWork) -> None:
    ref = BlobRef(SHA_A, 10)
    uow.blobs.acquire(ref)
    uow.commit()
    uow.blobs.release(ref)
    uow.commit()
    uow.blobs.acquire(ref)
    uow.commit()
    files = FileLog()
    assert uow.blobs.collect(ref, files) is False
    assert files.deleted == []
    assert refcount(uow, ref.sha256) == 1


def test_blob_collection_of_unknown_bytes_does_nothing(uow: UnitOfWork) -> None:
    files = FileLog()
    assert uow.blobs.collect(BlobRef(SHA_B, 1), files) is False
    assert files.deleted == []


def test_blob_index_lists_every_count_and_tracks_unknown_bytes(uow: UnitOfWork) -> None:
    known, orphan = BlobRef(SHA_A, 10), BlobRef(SHA_B, 20)
    uow.blobs.acquire(known)
    uow.blobs.track(known)  # known: changes nothing
    uow.blobs.track(orphan)
    uow.commit()
    assert dict(uow.blobs.all()) == {SHA_A: 1, SHA_B: 0}
    files = FileLog()
    assert uow.blobs.collect(known, files) is False
    assert uow.blobs.collect(orphan, files) is True
    assert files.deleted == [orphan]
    assert dict(uow.blobs.all()) == {SHA_A: 1}


def test_after_commit_runs_only_on_commit(uow: UnitOfWork) -> None:
    calls: list[str] = []
    uow.after_commit(lambda: calls.append("aborted"))
    uow.abort()
    assert calls == []
    uow.after_commit(lambda: calls.append("first"))
    uow.after_commit(lambda: calls.append("second"))
    assert calls == []
    uow.commit()
    assert calls == ["first", "second"]
    uow.commit()
    assert calls == ["first", "second"]


def test_abort_puts_back_what_the_last_commit_left(uow: UnitOfWork, catalogue: Catalogue) -> None:
    """Additions, deletions, changes to records, their lists and the blob
    counts since the last commit all go, on the fakes as in a database."""
    uow.blobs.acquire(BlobRef(SHA_A, 100))
    uow.commit()
    first, second = catalogue.pks([1, 2])
    model = uow.models.get(first)  # type: ignore[arg-type]
    licence = uow.licences.get_by_name("MIT")
    assert model is not None and licence is not None
    model.name, model.framework = "renamed", catalogue.tf
    model.deletion_time = hours(20)
    licence.permissions.append("Sublicense")
    uow.users.add(User("erin"))
    uow.models.delete(uow.models.get(second))  # type: ignore[arg-type]
    uow.blobs.acquire(BlobRef(SHA_A, 100))
    uow.blobs.acquire(BlobRef(SHA_B, 100))

    uow.abort()

    model = uow.models.get(first)  # type: ignore[arg-type]
    assert model is not None
    assert (model.name, model.framework.name, model.deletion_time) == ("ResNet-50", "PyTorch", None)
    licence = uow.licences.get_by_name("MIT")
    assert licence is not None and licence.permissions == []
    assert uow.users.get_by_username("erin") is None
    assert uow.models.get(second) is not None  # type: ignore[arg-type]
    assert uow.blobs.all() == {SHA_A: 1}


def test_filterable_fields_filter_and_order_on_every_backend(
    readonly: tuple[UnitOfWork, Catalogue],
) -> None:
    """Every field a resource declares filterable can be tested for null and
    sorted on: each backend selects the records with a value, in the order of
    their values (text by code point)."""
    uow, _ = readonly
    repositories = {
        PRETRAINED_MODEL: uow.models,
        FRAMEWORK: uow.frameworks,
        DOMAIN: uow.domains,
        LICENCE: uow.licences,
        USER: uow.users,
    }
    for resource, repository in repositories.items():
        everything = repository.list(f.FilterSpec())
        for name in resource.filters:

            def value(entity: Any, path: tuple[str, ...] = resource.value_path(name)) -> Any:
                for attribute in path:
                    entity = None if entity is None else getattr(entity, attribute)
                return entity

            raw = {
                "expressions": [{"type": "isnull", "field": name, "invert": True}],
                "order_by": [{"field": name, "ascending": False}],
            }
            spec = f.parse_filter(raw, resource.filters)
            found = repository.list(spec)
            assert {e.pk for e in found} == {e.pk for e in everything if value(e) is not None}
            values = [value(e) for e in found]
            assert values == sorted(values, reverse=True), (resource.name, name)
            if resource is PRETRAINED_MODEL:
                assert uow.models.records(spec) == [ModelRecord.of(m) for m in found], name
    uow.abort()


def test_a_model_record_shows_what_the_entity_holds(
    readonly: tuple[UnitOfWork, Catalogue],
) -> None:
    uow, catalogue = readonly
    for model in catalogue.models:
        assert model.pk is not None
        assert uow.models.record(model.pk) == ModelRecord.of(model)
    assert uow.models.record(max(m.pk or 0 for m in catalogue.models) + 1) is None
    uow.abort()


# -- resumable uploads ---------------------------------------------------------


def an_upload(uow: UnitOfWork, upload_id: str, created: float, **fields: Any) -> Upload:
    """A new upload of a new user (committed), created ``created`` hours after T0."""
    owner = User(f"owner-{upload_id}")
    uow.users.add(owner)
    assert owner.pk is not None
    values: dict[str, Any] = {
        "model_pk": 7,
        "length": 5 * 2**32,  # over 32 bits
        "created": hours(created),
        "expires": hours(created + 24),
        **fields,
    }
    upload = Upload(upload_id, owner.pk, **values)
    uow.uploads.add(upload)
    uow.commit()
    return upload


def test_upload_add_get_change_delete(uow: UnitOfWork) -> None:
    upload = an_upload(uow, "a" * 32, 0, filename="résumé.onnx")

    found = uow.uploads.get_for_update("a" * 32)
    assert found is not None and found is uow.uploads.get("a" * 32)
    assert (found.owner_pk, found.model_pk, found.length, found.offset) == (
        upload.owner_pk,
        7,
        5 * 2**32,
        0,
    )
    assert (found.filename, found.created, found.expires) == ("résumé.onnx", hours(0), hours(24))
    assert found.expires.utcoffset() == timedelta(0)
    found.offset, found.expires = 4 * 2**32, hours(30)
    uow.commit()
    again = uow.uploads.get_for_update("a" * 32)
    assert again is not None and (again.offset, again.expires) == (4 * 2**32, hours(30))
    assert uow.uploads.get("b" * 32) is None and uow.uploads.get_for_update("b" * 32) is None

    uow.uploads.delete(again)
    uow.commit()
    assert uow.uploads.get("a" * 32) is None
    assert uow.uploads.all() == []


def test_uploads_are_listed_oldest_first_and_expire_at_their_time(uow: UnitOfWork) -> None:
    late = an_upload(uow, "c" * 32, 2)
    early = an_upload(uow, "d" * 32, 1, filename=None)

    assert [u.id for u in uow.uploads.all()] == [early.id, late.id]
    assert uow.uploads.expired(hours(24.5)) == []
    assert [u.id for u in uow.uploads.expired(hours(25))] == [early.id]
    assert [u.id for u in uow.uploads.expired(hours(99))] == [early.id, late.id]


def test_abort_puts_back_an_upload_as_last_committed(uow: UnitOfWork) -> None:
    upload = an_upload(uow, "e" * 32, 0)
    found = uow.uploads.get_for_update(upload.id)
    assert found is not None
    found.offset = 100
    uow.uploads.add(Upload("f" * 32, upload.owner_pk, 7, 10, hours(1), hours(2)))
    uow.uploads.delete(found)

    uow.abort()

    again = uow.uploads.get(upload.id)
    assert again is not None and again.offset == 0
    assert [u.id for u in uow.uploads.all()] == [upload.id]


# -- SQL only: query counts, time zones, constraints ----------------------------


class QueryCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def _count(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def _touch(models: list[PretrainedModel]) -> list[tuple[Any, ...]]:
    return [
        (m.framework.name, m.domain.description, m.licence.name, m.creator and m.creator.username)
        for m in models
    ]


def test_listing_models_costs_one_query_whatever_their_number(
    sql_engine: Engine, sql_uow: SqlUnitOfWork
) -> None:
    catalogue = build_catalogue(sql_uow)
    spec = f.parse_filter(
        {"expressions": [_isnull("deletion_time")], "order_by": [{"field": "creator.username"}]},
        PRETRAINED_MODEL.filters,
    )
    with QueryCounter(sql_engine) as few:
        _touch(sql_uow.models.list(spec))
    template = sql_uow.models.get(catalogue.models[1].pk)  # type: ignore[arg-type]
    assert template is not None
    for n in range(20):
        sql_uow.models.add(
            PretrainedModel(
                f"extra-{n}",
                template.framework,
                template.domain,
                template.licence,
                url="https://models.example.org/x",
                description="",
                creator=template.creator if n % 2 else None,
                creation_time=hours(n),
            )
        )
    sql_uow.commit()
    with QueryCounter(sql_engine) as many:
        found = sql_uow.models.list(spec)
        _touch(found)
    with QueryCounter(sql_engine) as records:
        assert len(sql_uow.models.records(spec)) == 23
    assert len(found) == 23
    assert few.count == many.count == records.count == 1


def test_getting_a_model_loads_its_relations_at_once(
    sql_engine: Engine, sql_uow: SqlUnitOfWork
) -> None:
    catalogue = build_catalogue(sql_uow)
    with QueryCounter(sql_engine) as counter:
        model = sql_uow.models.get(catalogue.models[0].pk)  # type: ignore[arg-type]
        assert model is not None
        _touch([model])
    assert counter.count == 1


def test_timestamps_are_stored_in_utc(sql_uow: SqlUnitOfWork) -> None:
    paris = timezone(timedelta(hours=2))
    user = User("dora", date_joined=datetime(2024, 6, 1, 14, 30, 0, 123456, tzinfo=paris))
    sql_uow.users.add(user)
    sql_uow.commit()
    loaded = sql_uow.users.get(user.pk)  # type: ignore[arg-type]
    assert loaded is not None and loaded is not user
    assert loaded.date_joined == datetime(2024, 6, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert loaded.date_joined.tzinfo == UTC
    spec = f.parse_filter(
        {"expressions": [_compare("date_joined", ">", "2024-06-01T13:00:00+02:00")]},
        USER.filters,
    )
    assert [u.username for u in sql_uow.users.list(spec)] == ["dora"]


def test_a_framework_in_use_cannot_be_deleted(sql_uow: SqlUnitOfWork) -> None:
    catalogue = build_catalogue(sql_uow)
    framework = sql_uow.frameworks.get(catalogue.torch.pk)  # type: ignore[arg-type]
    assert framework is not None
    with pytest.raises(IntegrityError):
        sql_uow.frameworks.delete(framework)
    sql_uow.abort()
    assert sql_uow.frameworks.get(catalogue.torch.pk) is not None  # type: ignore[arg-type]
