"""UFDL's licences, spelled as the UFDL server spells them, in a registry
seeded before they were its seed.

Such a registry was seeded with licences spelled as SPDX identifiers
("Apache-2.0", "GPL-3.0", ...). Its models may use them, so they stay as
they are; this adds each of UFDL's licences that no licence is named
(there, "MIT", "CC-BY-4.0" and "CC-BY-SA-4.0" exist already and are left
alone). A model body may still give a UFDL licence by its SPDX identifier
(``domain.catalogue.ufdl.LICENCE_ALIASES``).

A new database gets these rows from the seed, which runs once its schema is
made (``modelhub initdb``, ``auto_migrate``): this touches only a database
the seed has filled before, which is one with data domains (nothing else
writes them). So the migrations of a new database leave its tables empty,
and its licences take UFDL's pks, 1 to 14, in UFDL's order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.catalogue.ufdl import LICENCES

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBDESCRIPTORS = ("domains", "permissions", "limitations", "conditions")

# The tables as this revision knows them, whatever later revisions add.
domains = sa.table("domains", sa.column("id", sa.Integer()))
licences = sa.table(
    "licences",
    sa.column("name", sa.String(100)),
    sa.column("url", sa.String(200)),
    *(sa.column(kind, sa.JSON()) for kind in SUBDESCRIPTORS),
)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.select(domains.c.id).limit(1)).first() is None:
        return  # a new database: the seed fills it
    present = set(connection.execute(sa.select(licences.c.name)).scalars())
    missing = [
        {
            "name": licence.name,
            "url": licence.url,
            **{kind: list(getattr(licence, kind)) for kind in SUBDESCRIPTORS},
        }
        for licence in LICENCES
        if licence.name not in present
    ]
    if missing:
        op.bulk_insert(licences, missing)


def downgrade() -> None:
    """Nothing: models may use the added licences by now, and rows that
    existed before are indistinguishable from them."""
