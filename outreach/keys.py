"""Rotation of the keys that encrypt mailbox secrets at rest.

The key list (OUTREACH_ENCRYPTION_KEYS, newest first) encrypts with its first key
and decrypts with any. Rotating means: put a new key first, re-encrypt every
stored secret under it with `rotate_secrets`, then drop the old key. The steps
are in docs/cli.md and the reasons in docs/decisions/0006-key-rotation.md.

Secrets never leave `SecretBox.rotate` in clear text here, and nothing in this
module prints or logs a secret or a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.fernet import Fernet
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.errors import ConfigurationError, OutreachError
from outreach.models import Mailbox

# Compare-and-set attempts per mailbox before giving up (each retry needs a concurrent write).
_ATTEMPTS = 5


@dataclass(frozen=True)
class RotationReport:
    """How many secrets now sit under the newest key, and which could not be opened."""

    rotated: int = 0
    # Ids of mailboxes whose secret no configured key decrypts; left as they were.
    failed: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64), fit for OUTREACH_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()


def rotate_secrets(session: Session, box: SecretBox) -> RotationReport:
    """Re-encrypt every mailbox secret (password, OAuth2 tokens) under the newest key of `box`.

    Runs in the caller's transaction and does not commit: the caller commits once,
    so either every readable secret is rotated or, on error, none is. A secret that
    no configured key can decrypt is reported by mailbox id and not touched.

    Each row is written by compare-and-set on its old token, so a password changed
    meanwhile (in the dashboard, by another process) is never overwritten with the
    older one: the new token is read again and rotated instead. On PostgreSQL the
    rows are also locked (FOR UPDATE), so such a change waits for this transaction.
    """
    rotated = 0
    failed: list[int] = []
    columns = (
        Mailbox.secret_encrypted,
        Mailbox.oauth_refresh_encrypted,
        Mailbox.oauth_access_encrypted,
    )
    rows = session.execute(
        select(Mailbox.id, *columns).order_by(Mailbox.id).with_for_update()
    ).all()
    for mailbox_id, *tokens in rows:
        # The password, or an OAuth2 mailbox's refresh and access tokens (None when absent).
        opened = all(
            _rotate_one(session, box, mailbox_id, column, token)
            for column, token in zip(columns, tokens, strict=True)
            if token is not None
        )
        if opened:
            rotated += 1
        else:
            failed.append(mailbox_id)
    return RotationReport(rotated=rotated, failed=failed)


def _rotate_one(session: Session, box: SecretBox, mailbox_id: int, column: Any, token: str) -> bool:
    """Re-encrypt one stored secret; False when no configured key opens it."""
    current: str | None = token
    for _attempt in range(_ATTEMPTS):
        if current is None:  # deleted or cleared meanwhile: nothing left to rotate
            return True
        try:
            fresh = box.rotate(current)
        except ConfigurationError:
            return False
        written = session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, column == current)
            .values({column.key: fresh})
        )
        if cast(CursorResult[Any], written).rowcount == 1:
            return True
        # Changed (or deleted) since we read it: take the value now stored.
        current = session.scalar(select(column).where(Mailbox.id == mailbox_id))
    raise OutreachError(
        f"the secrets of mailbox {mailbox_id} kept changing while they were re-encrypted; "
        "the rotation was abandoned, run it again"
    )
