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
    """Re-encrypt every mailbox secret under the newest key of `box`.

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
    rows = session.execute(
        select(Mailbox.id, Mailbox.secret_encrypted).order_by(Mailbox.id).with_for_update()
    ).all()
    for mailbox_id, token in rows:
        current: str | None = token
        for _attempt in range(_ATTEMPTS):
            if current is None:  # deleted meanwhile: nothing left to rotate
                break
            try:
                fresh = box.rotate(current)
            except ConfigurationError:
                failed.append(mailbox_id)
                break
            written = session.execute(
                update(Mailbox)
                .where(Mailbox.id == mailbox_id, Mailbox.secret_encrypted == current)
                .values(secret_encrypted=fresh)
            )
            if cast(CursorResult[Any], written).rowcount == 1:
                rotated += 1
                break
            # Changed (or deleted) since we read it: take the value now stored.
            current = session.scalar(
                select(Mailbox.secret_encrypted).where(Mailbox.id == mailbox_id)
            )
        else:
            raise OutreachError(
                f"the secret of mailbox {mailbox_id} kept changing while it was re-encrypted; "
                "the rotation was abandoned, run it again"
            )
    return RotationReport(rotated=rotated, failed=failed)
