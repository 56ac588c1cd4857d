"""An invitation says the role of the account it makes (student or adviser).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signup_invites") as batch:
        batch.add_column(
            sa.Column(
                "role",
                sa.Enum("student", "adviser", "admin", name="role", native_enum=False, length=32),
                nullable=False,
                server_default="student",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("signup_invites") as batch:
        batch.drop_column("role")
