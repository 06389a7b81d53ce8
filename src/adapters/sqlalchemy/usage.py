"""Usage figures in the ``model_usage`` table.

Every record is one atomic increment in a short transaction of its own, on
a connection of its own (a download is counted when its response closes,
long after the request's transaction committed):

- ``INSERT … SELECT … WHERE EXISTS (the model) ON CONFLICT (model_id) DO
  UPDATE SET x = x + excluded.x``: the first record of a model creates its
  row, every later one adds to it. Two transfers that end at once both
  count: on PostgreSQL the second waits for the first's row (the unique
  index) and then adds to it; on SQLite the database's write lock orders
  them. When the row exists only it is written, never the model's row; the
  insert of a model's first row checks the foreign key, which on PostgreSQL
  holds a share lock on the model's key for this short transaction.
- When that statement matched nothing, the model is gone (hard-deleted while
  its file was being sent): the figures go to a row with ``model_id`` NULL,
  as the hard delete leaves the model's row (``ON DELETE SET NULL``). A hard
  delete that commits between the check and the insert makes the insert
  fail its foreign key: it is tried again and takes this way.

The upsert says what it did with ``RETURNING`` (SQLite 3.35 or later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, exists, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from adapters.sqlalchemy.tables import model_usage, pretrained_models
from domain.ports import ModelUsage, UsageLog

_INSERTS: dict[str, Callable[..., Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
_FIGURES = ("downloads", "bytes_served", "bytes_fetched")
_ATTEMPTS = 3


class SqlUsageLog(UsageLog):
    """``UsageLog`` on ``engine``, outside any unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        if dialect not in _INSERTS:
            raise NotImplementedError(f"no atomic upsert for the {dialect!r} dialect")
        self._insert = _INSERTS[dialect]

    def served(self, pk: int, nbytes: int, download: bool) -> None:
        self._add(pk, (int(download), nbytes, 0))

    def fetched(self, pk: int, nbytes: int) -> None:
        self._add(pk, (0, 0, nbytes))

    def figures(self) -> list[ModelUsage]:
        columns = [model_usage.c[name] for name in _FIGURES]
        statement = select(model_usage.c.model_id, *columns).order_by(model_usage.c.id)
        with self.engine.connect() as connection:
            rows = [
                ModelUsage(pk, *map(int, figures)) for pk, *figures in connection.execute(statement)
            ]
        per_model = sorted((u for u in rows if u.model_pk is not None), key=_pk)
        deleted = [u for u in rows if u.model_pk is None]
        if deleted:
            per_model.append(
                ModelUsage(
                    None,
                    sum(u.downloads for u in deleted),
                    sum(u.bytes_served for u in deleted),
                    sum(u.bytes_fetched for u in deleted),
                )
            )
        return per_model

    def figures_of(self, pk: int) -> ModelUsage:
        columns = [model_usage.c[name] for name in _FIGURES]
        statement = select(*columns).where(model_usage.c.model_id == pk)
        with self.engine.connect() as connection:
            row = connection.execute(statement).first()
        return ModelUsage(pk, *map(int, row)) if row is not None else ModelUsage(pk)

    def _add(self, pk: int, figures: tuple[int, int, int]) -> None:
        if not any(figures):
            return
        for attempt in range(_ATTEMPTS):
            try:
                with self.engine.begin() as connection:
                    if connection.execute(self._upsert(pk, figures)).first() is not None:
                        return
                    values = dict(zip(_FIGURES, figures, strict=True))
                    connection.execute(insert(model_usage).values(model_id=None, **values))
                    return
            except IntegrityError:
                # The model was hard-deleted between the check and the insert.
                if attempt == _ATTEMPTS - 1:
                    raise

    def _upsert(self, pk: int, figures: tuple[int, int, int]) -> Any:
        model_exists = exists().where(pretrained_models.c.id == pk)
        row = select(literal(pk, Integer), *(literal(n, BigInteger) for n in figures)).where(
            model_exists
        )
        statement = self._insert(model_usage).from_select(["model_id", *_FIGURES], row)
        # RETURNING rather than rowcount, which psycopg leaves at -1 here.
        return statement.on_conflict_do_update(
            index_elements=[model_usage.c.model_id],
            set_={name: model_usage.c[name] + statement.excluded[name] for name in _FIGURES},
        ).returning(model_usage.c.id)


def _pk(usage: ModelUsage) -> int:
    return usage.model_pk or 0
