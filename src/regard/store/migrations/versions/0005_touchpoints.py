"""touchpoints: candidates, trigger cursors and campaign launches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 01:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_candidates_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint(
            "touchpoint",
            "customer_id",
            "key",
            name=op.f("uq_candidates_touchpoint_customer_id_key"),
        ),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index("ix_candidates_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_candidates_status", ["status", "not_before"], unique=False)
    op.create_table(
        "trigger_cursors",
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("last_event_id", _ID, nullable=False),
        sa.Column("last_slot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("touchpoint", name=op.f("pk_trigger_cursors")),
    )
    op.create_table(
        "campaign_launches",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("launched_by", sa.String(length=120), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_launches")),
    )


def downgrade() -> None:
    op.drop_table("campaign_launches")
    op.drop_table("trigger_cursors")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_candidates_status")
        batch_op.drop_index("ix_candidates_customer_id")
    op.drop_table("candidates")
