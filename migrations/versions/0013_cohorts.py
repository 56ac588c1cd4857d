"""Roles (student, adviser, admin) and cohorts an adviser runs, joined with a code.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "role",
                sa.Enum("student", "adviser", "admin", name="role", native_enum=False, length=32),
                nullable=False,
                server_default="student",
            )
        )
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("adviser_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["adviser_id"],
            ["users.id"],
            name=op.f("fk_cohorts_adviser_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("adviser_id", "name", name=op.f("uq_cohorts_adviser_id_name")),
        sa.UniqueConstraint("code", name=op.f("uq_cohorts_code")),
    )
    op.create_index(op.f("ix_cohorts_adviser_id"), "cohorts", ["adviser_id"], unique=False)
    op.create_table(
        "cohort_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_cohort_members_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_cohort_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_members")),
        sa.UniqueConstraint(
            "cohort_id", "user_id", name=op.f("uq_cohort_members_cohort_id_user_id")
        ),
    )
    op.create_index(op.f("ix_cohort_members_user_id"), "cohort_members", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cohort_members_user_id"), table_name="cohort_members")
    op.drop_table("cohort_members")
    op.drop_index(op.f("ix_cohorts_adviser_id"), table_name="cohorts")
    op.drop_table("cohorts")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
