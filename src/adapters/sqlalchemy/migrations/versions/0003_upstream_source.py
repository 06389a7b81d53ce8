"""Pretrained models: the upstream source of their file, and its transfer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
COLUMNS = (
    ("source", sa.String(2048)),
    ("source_sha256", sa.String(64)),
    ("fetch_owner", sa.String(64)),
    ("fetch_heartbeat", TIMESTAMP),
    ("fetch_size", sa.BigInteger()),
    ("fetch_error", sa.Text()),
    ("fetch_error_kind", sa.String(16)),
    ("fetch_failed_at", TIMESTAMP),
)


def upgrade() -> None:
    with op.batch_alter_table("pretrained_models") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pretrained_models") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
