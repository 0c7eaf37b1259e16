"""delivery feedback: message feedback, suppressions, the complaint-rate breaker

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_feedback",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bounce", sa.String(length=8), nullable=True),
        sa.Column("occurred_at", _WHEN, nullable=False),
        sa.Column("received_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_message_feedback_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_feedback")),
        sa.UniqueConstraint("key", name=op.f("uq_message_feedback_key")),
    )
    with op.batch_alter_table("message_feedback", schema=None) as batch_op:
        batch_op.create_index("ix_message_feedback_outbox_id", ["outbox_id", "kind"], unique=False)
        batch_op.create_index(
            "ix_message_feedback_stream", ["stream", "kind", "occurred_at"], unique=False
        )
    op.create_table(
        "suppressions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("address", sa.LargeBinary(length=32), nullable=True),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_suppressions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_suppressions_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint(
            "customer_id",
            "channel",
            "reason",
            name=op.f("uq_suppressions_customer_id_channel_reason"),
        ),
    )
    op.create_table(
        "breaker_streams",
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("changed_at", _WHEN, nullable=False),
        sa.Column("resumed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_breaker_streams")),
    )
    op.create_table(
        "breaker_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaker_alerts")),
    )
    with op.batch_alter_table("breaker_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_breaker_alerts_stream", ["stream", "at"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_id")
    with op.batch_alter_table("breaker_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_breaker_alerts_stream")
    op.drop_table("breaker_alerts")
    op.drop_table("breaker_streams")
    op.drop_table("suppressions")
    with op.batch_alter_table("message_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_message_feedback_stream")
        batch_op.drop_index("ix_message_feedback_outbox_id")
    op.drop_table("message_feedback")
