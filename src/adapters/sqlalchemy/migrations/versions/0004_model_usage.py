"""Usage figures per model: downloads, bytes served, bytes fetched upstream.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        # NULL once the model is hard-deleted: its figures stay in the totals.
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("bytes_served", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("bytes_fetched", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_usage")),
        sa.UniqueConstraint("model_id", name=op.f("uq_model_usage_model_id")),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["pretrained_models.id"],
            name=op.f("fk_model_usage_model_id_pretrained_models"),
            ondelete="SET NULL",
        ),
    )


def downgrade() -> None:
    op.drop_table("model_usage")
