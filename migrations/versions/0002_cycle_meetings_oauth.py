"""The cycle's settings, meetings and their notes, and OAuth2 sign-in for mailboxes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(
            sa.Column("give_up_business_days", sa.Integer(), nullable=False, server_default="5")
        )
        batch.add_column(
            sa.Column(
                "allow_same_organisation", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("holidays", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("auto_approve", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("monthly_goal", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("outreaches") as batch:
        batch.add_column(sa.Column("away_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("keep_in_touch_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(
            sa.Column(
                "auth_method",
                sa.Enum(
                    "password",
                    "oauth2",
                    name="authmethod",
                    native_enum=False,
                    length=32,
                ),
                nullable=False,
                server_default="password",
            )
        )
        batch.add_column(sa.Column("oauth_provider", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("oauth_refresh_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("oauth_access_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("oauth_access_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("oauth_refresh_lock_until", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("outreach_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "scheduled",
                "held",
                "cancelled",
                name="meetingstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("invitation_uid", sa.String(length=255), nullable=True),
        sa.Column("invitation_message_id", sa.Integer(), nullable=True),
        sa.Column("confirmation_drafted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("learned", sa.Text(), nullable=False),
        sa.Column("answers_json", sa.Text(), nullable=False),
        sa.Column("specific_detail", sa.Text(), nullable=False),
        sa.Column("thank_you_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_meetings_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_message_id"],
            ["messages.id"],
            name=op.f("fk_meetings_invitation_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outreach_id"],
            ["outreaches.id"],
            name=op.f("fk_meetings_outreach_id_outreaches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_meetings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index(op.f("ix_meetings_outreach_id"), "meetings", ["outreach_id"], unique=False)
    op.create_index(op.f("ix_meetings_user_id"), "meetings", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_meetings_user_id"), table_name="meetings")
    op.drop_index(op.f("ix_meetings_outreach_id"), table_name="meetings")
    op.drop_table("meetings")
    with op.batch_alter_table("mailboxes") as batch:
        for column in (
            "oauth_refresh_lock_until",
            "oauth_access_expires_at",
            "oauth_access_encrypted",
            "oauth_refresh_encrypted",
            "oauth_provider",
            "auth_method",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("outreaches") as batch:
        batch.drop_column("keep_in_touch_at")
        batch.drop_column("away_until")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("monthly_goal")
        batch.drop_column("auto_approve")
        batch.drop_column("holidays")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("allow_same_organisation")
        batch.drop_column("give_up_business_days")
