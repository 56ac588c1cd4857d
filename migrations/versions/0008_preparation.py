"""A meeting's preparation (research, questions, checklist) and the reflection after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_COLUMNS = (
    "reflection_fit",
    "reflection_went_well",
    "reflection_do_better",
    "reflection_next_steps",
    "purpose",
    "research_person",
    "research_organisation",
)


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        for name in TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("questions_json", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("checklist_json", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("checklist_json")
        batch.drop_column("questions_json")
        for name in reversed(TEXT_COLUMNS):
            batch.drop_column(name)
