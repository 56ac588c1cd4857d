"""Gmail's thread id (X-GM-THRID) on our sent messages, for matching replies by thread.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("gm_thread_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_messages_user_gm_thread_id", ["user_id", "gm_thread_id"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_user_gm_thread_id")
        batch.drop_column("gm_thread_id")
