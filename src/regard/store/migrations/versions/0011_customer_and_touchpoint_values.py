"""customer values (expected lifetime value per customer) and learned touchpoint values

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_values",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("expected_value", sa.Double(), nullable=False),
        sa.Column("probability_alive", sa.Double(), nullable=False),
        sa.Column("scored_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_values_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_values")),
    )
    op.create_table(
        "touchpoint_values",
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("segment", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("configured", sa.Double(), nullable=False),
        sa.Column("measured", sa.Double(), nullable=True),
        sa.Column("learned", sa.Double(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("customers", sa.Double(), nullable=False),
        sa.Column("measured_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint(
            "touchpoint", "segment", "channel", name=op.f("pk_touchpoint_values")
        ),
    )


def downgrade() -> None:
    op.drop_table("touchpoint_values")
    op.drop_table("customer_values")
