"""Repositories over a SQLAlchemy Session (mapped by ``orm.start_mappers``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased, contains_eager

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.filters import FieldMap, SqlField, apply_spec, resource_fields
from adapters.sqlalchemy.session import dialect_name
from domain import filters as f
from domain.fields import Resource
from domain.model import (
    DataDomain,
    Framework,
    Licence,
    PretrainedModel,
    Upload,
    User,
    data_state_of,
)
from domain.paging import Page, PageRequest
from domain.ports import (
    DomainRepository,
    FrameworkRepository,
    LicenceRepository,
    PretrainedModelRepository,
    UploadRepository,
    UserRepository,
)
from domain.records import ModelRecord
from domain.resources import DOMAIN, FRAMEWORK, LICENCE, PRETRAINED_MODEL, USER

T = TypeVar("T")

# ``setval`` only forwards: a sequence already past the pk (rows given later
# pks, since deleted) stays, so a deleted record's pk is never given again.
_MOVE_SEQUENCE = text(
    "SELECT setval(serial.seq, :pk) FROM "
    "(SELECT CAST(pg_get_serial_sequence(:table, 'id') AS regclass) AS seq) AS serial "
    "WHERE :pk > coalesce(pg_sequence_last_value(serial.seq), 0)"
)


class _SqlRepository(Generic[T]):
    entity: type[T]
    table: Table
    resource: Resource

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, pk: int) -> T | None:
        return self.session.get(self.entity, pk)

    def add(self, entity: T) -> None:
        """Store ``entity``; flushing gives it its ``pk`` at once.

        An entity with a pk keeps it. On PostgreSQL the table's sequence is
        first moved past that pk (never back), so later pks come after it;
        SQLite gives the largest rowid plus one anyway.
        """
        pk = entity.pk  # type: ignore[attr-defined]
        if pk is not None and dialect_name(self.session) == "postgresql":
            self.session.execute(_MOVE_SEQUENCE, {"table": self.table.name, "pk": pk})
        self.session.add(entity)
        self.session.flush()

    def delete(self, entity: T) -> None:
        self.session.delete(entity)
        self.session.flush()

    def list(self, spec: f.FilterSpec) -> list[T]:
        """Entities matching ``spec`` in one query, in its order then by pk."""
        return list(self.session.scalars(self._selection(spec)))

    def page(self, spec: f.FilterSpec, request: PageRequest) -> Page[T]:
        """One page in one query, and the count of the whole in another."""
        selection = self._selection(spec)
        counted = selection.order_by(None).with_only_columns(func.count(self.table.c.id))
        total = self.session.scalar(counted) or 0
        window = selection.offset(request.offset).limit(request.size)
        return Page(list(self.session.scalars(window)), total, request)

    def _selection(self, spec: f.FilterSpec) -> Select[Any]:
        """The SELECT of the entities ``spec`` lists, in its order."""
        return apply_spec(select(self.entity), spec, self._fields())

    def _fields(self) -> FieldMap:
        return resource_fields(self.resource, self.table.c)

    def _first(self, *criteria: ColumnElement[bool]) -> T | None:
        statement = select(self.entity).where(*criteria).order_by(self.table.c.id).limit(1)
        return self.session.scalars(statement).first()


class SqlUsers(_SqlRepository[User], UserRepository):
    entity, table, resource = User, t.users, USER

    def get_by_username(self, username: str) -> User | None:
        return self._first(t.users.c.username == username)


class SqlFrameworks(_SqlRepository[Framework], FrameworkRepository):
    entity, table, resource = Framework, t.frameworks, FRAMEWORK

    def get_by_name_version(self, name: str, version: str) -> Framework | None:
        return self._first(t.frameworks.c.name == name, t.frameworks.c.version == version)


class SqlDomains(_SqlRepository[DataDomain], DomainRepository):
    entity, table, resource = DataDomain, t.domains, DOMAIN

    def get_by_name(self, name: str) -> DataDomain | None:
        return self._first(t.domains.c.name == name)


class SqlLicences(_SqlRepository[Licence], LicenceRepository):
    entity, table, resource = Licence, t.licences, LICENCE

    def get_by_name(self, name: str) -> Licence | None:
        return self._first(t.licences.c.name == name)


class SqlModels(_SqlRepository[PretrainedModel], PretrainedModelRepository):
    entity, table, resource = PretrainedModel, t.pretrained_models, PRETRAINED_MODEL

    def _selection(self, spec: f.FilterSpec) -> Select[Any]:
        """Models matching ``spec``, with their related records, in one query.

        The related records are outer-joined once, under aliases that serve
        both the dotted filter fields and the loading of the relationships.
        """
        related: dict[str, Any] = {
            name: aliased(entity, name=name) for name, entity in _RELATED.items()
        }
        statement = select(PretrainedModel)
        for name, alias in related.items():
            attribute = getattr(PretrainedModel, name).of_type(alias)
            statement = statement.outerjoin(attribute).options(contains_eager(attribute))
        return apply_spec(statement, spec, model_fields(related))

    def records(self, spec: f.FilterSpec) -> list[ModelRecord]:
        """Core rows, not entities: the same SQL conditions and order as
        ``list`` (one ``FieldMap``), without the ORM's cost per object."""
        statement = apply_spec(_RECORDS, spec, _RECORD_FIELDS)
        return [_record(row) for row in self.session.connection().execute(statement)]

    def record(self, pk: int) -> ModelRecord | None:
        row = self.session.connection().execute(_RECORD, {"pk": pk}).first()
        return _record(row) if row is not None else None

    def get_for_update(self, pk: int) -> PretrainedModel | None:
        return _locked(self.session, PretrainedModel, t.pretrained_models, pk)

    def count_holding(self, sha256: str) -> int:
        c = t.pretrained_models.c
        return self.session.scalar(select(func.count()).where(c.data_sha256 == sha256)) or 0

    def uses_framework(self, framework: Framework) -> bool:
        return self._exists(t.pretrained_models.c.framework_id == framework.pk)

    def uses_licence(self, licence: Licence) -> bool:
        return self._exists(t.pretrained_models.c.licence_id == licence.pk)

    def _exists(self, criterion: ColumnElement[bool]) -> bool:
        return bool(self.session.scalar(select(exists().where(criterion))))


class SqlUploads(UploadRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, upload: Upload) -> None:
        self.session.add(upload)
        self.session.flush()

    def get(self, upload_id: str) -> Upload | None:
        return self.session.get(Upload, upload_id)

    def get_for_update(self, upload_id: str) -> Upload | None:
        return _locked(self.session, Upload, t.uploads, upload_id)

    def delete(self, upload: Upload) -> None:
        self.session.delete(upload)
        self.session.flush()

    def all(self) -> list[Upload]:
        return self._listed()

    def expired(self, now: datetime) -> list[Upload]:
        return self._listed(t.uploads.c.expires <= now)

    def _listed(self, *criteria: ColumnElement[bool]) -> list[Upload]:
        c = t.uploads.c
        statement = select(Upload).where(*criteria).order_by(c.created, c.id)
        return list(self.session.scalars(statement))


def model_fields(related: Mapping[str, Any]) -> FieldMap:
    """The filter fields of models; ``related`` gives, by relation name, the
    outer-joined alias whose attributes the dotted fields are (ORM aliases
    or Core tables' columns: the SQL is the same)."""
    c = t.pretrained_models.c
    state = case(
        (c.data_sha256.is_not(None), "local"),
        (c.fetch_owner.is_not(None), "fetching"),
        (c.source.is_not(None), "remote"),
        else_="none",
    )
    computed = {
        "data": SqlField(or_(c.data_sha256.is_not(None), c.source.is_not(None)), False),
        "data_state": SqlField(state, nullable=False),
    }
    return resource_fields(PRETRAINED_MODEL, c, related, computed)


_RELATED = {"framework": Framework, "domain": DataDomain, "licence": Licence, "creator": User}
_RELATED_TABLES = {"framework": t.frameworks, "domain": t.domains, "licence": t.licences}


def _record_query() -> tuple[Select[Any], FieldMap]:
    """The Core SELECT of ``ModelRecord`` rows (columns in the order of its
    fields, then ``fetch_owner``), and the filter fields over it."""
    m = t.pretrained_models.c
    alias = {name: table.alias(name) for name, table in _RELATED_TABLES.items()}
    creator = t.users.alias("creator")
    framework, domain, licence = (alias[name].c for name in ("framework", "domain", "licence"))
    sources = {
        "pk": m.id,
        "framework_pk": framework.id,
        "framework_name": framework.name,
        "framework_version": framework.version,
        "domain_description": domain.description,
        "licence_name": licence.name,
        "creator_pk": m.creator_id,
    }
    columns = [
        (sources[field.name] if field.name in sources else m[field.name]).label(field.name)
        for field in dataclasses.fields(ModelRecord)
        if field.name != "data_state"
    ]
    joined = t.pretrained_models
    for name, table in alias.items():
        joined = joined.join(table, table.c.id == m[f"{name}_id"])
    joined = joined.outerjoin(creator, creator.c.id == m.creator_id)
    statement = select(*columns, m.fetch_owner).select_from(joined)
    related = {**{name: table.c for name, table in alias.items()}, "creator": creator.c}
    return statement, model_fields(related)


_RECORDS, _RECORD_FIELDS = _record_query()
_RECORD = _RECORDS.where(t.pretrained_models.c.id == bindparam("pk"))


def _record(row: Row[Any]) -> ModelRecord:
    *values, fetch_owner = row
    return ModelRecord(*values, data_state=data_state_of(row.data_sha256, fetch_owner, row.source))


def _locked(session: Session, entity: type[T], table: Table, key: Any) -> T | None:
    """Read the row of ``key`` again, locked: ``SELECT ... FOR UPDATE`` on
    PostgreSQL; on SQLite, which has no row locks, first a write that takes
    the database's write lock (writers wait for it through ``busy_timeout``),
    so the read that follows is the latest."""
    c = table.c
    if dialect_name(session) == "sqlite":
        session.execute(update(table).where(c.id == key).values(id=c.id))
    statement = (
        select(entity)
        .where(c.id == key)
        .with_for_update(of=table)
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).first()
