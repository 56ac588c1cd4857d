"""Reports a student submits to a cohort from a held meeting, and the adviser's comment.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cohort_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.Column("first_submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_cohort_reports_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cohort_reports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_cohort_reports_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_reports")),
        sa.UniqueConstraint(
            "cohort_id", "meeting_id", name=op.f("uq_cohort_reports_cohort_id_meeting_id")
        ),
    )
    for column in ("cohort_id", "user_id", "meeting_id"):
        op.create_index(
            op.f(f"ix_cohort_reports_{column}"), "cohort_reports", [column], unique=False
        )


def downgrade() -> None:
    for column in ("cohort_id", "user_id", "meeting_id"):
        op.drop_index(op.f(f"ix_cohort_reports_{column}"), table_name="cohort_reports")
    op.drop_table("cohort_reports")
