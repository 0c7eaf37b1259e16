"""commitment runs: the cut points of each scoring of the whole base

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:30:00
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
        "commitment_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("scored_users", sa.Integer(), nullable=False),
        sa.Column("shallow_from", sa.Double(), nullable=False),
        sa.Column("average_from", sa.Double(), nullable=False),
        sa.Column("entrenched_from", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_runs")),
    )


def downgrade() -> None:
    op.drop_table("commitment_runs")
