"""decisions: engine runs, decisions, the outbox and the engine lock

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "decision_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("bound", sa.Double(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_runs")),
    )
    op.create_table(
        "decisions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("candidate_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("send_at", _WHEN, nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("decided_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_decisions_candidate_id_candidates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_decisions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["decision_runs.id"],
            name=op.f("fk_decisions_run_id_decision_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_candidate_id", ["candidate_id"], unique=False)
        batch_op.create_index(
            "ix_decisions_customer_id", ["customer_id", "decided_at"], unique=False
        )
        batch_op.create_index("ix_decisions_touchpoint", ["touchpoint", "decided_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("decision_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("touchpoint", sa.String(length=80), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("content", sa.String(length=120), nullable=False),
        sa.Column("send_at", _WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_outbox_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_outbox_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status", ["status", "send_at"], unique=False)
    op.create_table(
        "engine_locks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=True),
        sa.Column("until", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_engine_locks")),
    )


def downgrade() -> None:
    op.drop_table("engine_locks")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status")
    op.drop_table("outbox")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_touchpoint")
        batch_op.drop_index("ix_decisions_customer_id")
        batch_op.drop_index("ix_decisions_candidate_id")
    op.drop_table("decisions")
    op.drop_table("decision_runs")
