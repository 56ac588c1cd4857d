"""Indexes for the cycle's clock: outreaches by their next step, and by state per target.

`outreach cycle run` looked for due steps and for free places by reading every
outreach of every user: 76 ms and 89 ms with 1,000 users and 200,000 outreaches on
PostgreSQL, growing with every user. With these it reads the few rows that have a
next step, and counts each target's in-flight names from the index alone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outreaches") as batch:
        batch.create_index("ix_outreaches_next_step", ["next_step_at"])
        batch.create_index("ix_outreaches_state_target", ["state", "target_id"])


def downgrade() -> None:
    with op.batch_alter_table("outreaches") as batch:
        batch.drop_index("ix_outreaches_state_target")
        batch.drop_index("ix_outreaches_next_step")
