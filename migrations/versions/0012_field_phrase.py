"""A target's field phrase (the words an email uses), and a contact's "why you" line.

Targets made before this migration get a phrase guessed from their name, marked
unconfirmed so the dashboard asks the user to check it. The guessing rules are
copied here from outreach.rules.field_phrase as they are today: a migration must
give the same result however that module changes later.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRAILING_REMARK = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*$")
_TRAILING_LIST_WORD = re.compile(
    r"\s*[-–—:,]?\s*\b(short ?list|long ?list|list|names|contacts|targets?|sandbox|demo)\s*$",
    re.IGNORECASE,
)


def _lower_sensibly(word: str) -> str:
    rest = word[1:]
    if any(letter.isupper() for letter in rest) or any(letter.isdigit() for letter in word):
        return word
    return word.lower()


def _guess(name: str) -> str:
    text = " ".join(name.split())
    for _ in range(3):
        shorter = _TRAILING_LIST_WORD.sub("", _TRAILING_REMARK.sub("", text)).strip(" -–—:,")
        if not shorter or shorter == text:
            break
        text = shorter
    words = text.split()
    if not words:
        return " ".join(name.split())
    return " ".join(_lower_sensibly(word) for word in words)[:200]


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(
            sa.Column("field_phrase", sa.String(200), nullable=False, server_default="")
        )
        # New targets are asked for their phrase, so only the guessed ones start unconfirmed.
        batch.add_column(
            sa.Column(
                "field_phrase_confirmed", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("why_you", sa.Text(), nullable=False, server_default=""))
    targets = sa.table(
        "targets",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("field_phrase", sa.String),
        sa.column("field_phrase_confirmed", sa.Boolean),
    )
    connection = op.get_bind()
    for target_id, name in connection.execute(sa.select(targets.c.id, targets.c.name)).all():
        connection.execute(
            targets.update()
            .where(targets.c.id == target_id)
            .values(field_phrase=_guess(name), field_phrase_confirmed=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("why_you")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("field_phrase_confirmed")
        batch.drop_column("field_phrase")
