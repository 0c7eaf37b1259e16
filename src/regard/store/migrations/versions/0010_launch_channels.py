"""the channels a campaign launch is restricted to

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_launches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channels", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_launches", schema=None) as batch_op:
        batch_op.drop_column("channels")
