"""outbox delivery: due time, attempts, leases, message and provider ids, outcome

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("lease_until", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("provider_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("sent_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("updated_at", _WHEN, nullable=True))
        batch_op.create_index("ix_outbox_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_outbox_provider_id", ["provider_id"], unique=False)
        batch_op.create_index("ix_outbox_customer_id", ["customer_id", "created_at"], unique=False)
    op.execute("UPDATE outbox SET due_at = send_at WHERE due_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_customer_id")
        batch_op.drop_index("ix_outbox_provider_id")
        batch_op.drop_index("ix_outbox_due")
        for column in (
            "updated_at",
            "last_error",
            "sent_at",
            "provider_id",
            "message_id",
            "lease_until",
            "claimed_by",
            "attempts",
            "due_at",
        ):
            batch_op.drop_column(column)
