"""`outreach keys`: the keys that encrypt mailbox secrets."""

from __future__ import annotations

from collections.abc import Sequence

import click
from sqlalchemy import select

from outreach.cli.common import fail, load_settings, transaction
from outreach.crypto import SecretBox
from outreach.keys import generate_key, rotate_secrets
from outreach.models import Mailbox


@click.group("keys")
def keys_group() -> None:
    """The keys that encrypt mailbox secrets (OUTREACH_ENCRYPTION_KEYS, newest first).

    \b
    To replace the key in use (docs/cli.md):
    1. outreach keys generate                 -> NEW
    2. OUTREACH_ENCRYPTION_KEYS="NEW,OLD" for every process, and restart them
       (OLD: the key in use, from the variable or <instance>/encryption_key)
    3. outreach keys rotate
    4. OUTREACH_ENCRYPTION_KEYS="NEW", and restart again
    """


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key, and nothing else. Nothing is stored or changed."""
    click.echo(generate_key())


def _mailbox_list(rows: Sequence[tuple[int, str]]) -> str:
    return ", ".join(f"mailbox {mailbox_id} ({address})" for mailbox_id, address in rows)


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every mailbox secret with the newest key.

    The newest key is the first of OUTREACH_ENCRYPTION_KEYS. One transaction. A
    secret no configured key opens is left as it was, and makes the exit status 1.
    """
    settings = load_settings()
    box = SecretBox(settings.encryption_keys)
    with transaction(settings) as session:
        report = rotate_secrets(session, box)
        unreadable = [
            (row.id, row.email_address)
            for row in session.execute(
                select(Mailbox.id, Mailbox.email_address)
                .where(Mailbox.id.in_(report.failed))
                .order_by(Mailbox.id)
            )
        ]
    noun = "secret" if report.rotated == 1 else "secrets"
    click.echo(f"re-encrypted {report.rotated} mailbox {noun} with the newest key")
    if len(settings.encryption_keys) == 1:
        click.echo(
            "note: only one key is configured, so the secrets stay under the same key; "
            "to replace it, see `outreach keys --help`",
            err=True,
        )
    if unreadable:
        fail(
            f"{len(unreadable)} mailbox secret(s) could not be decrypted with any configured "
            f"key and were left as they were: {_mailbox_list(unreadable)}; add the key they "
            "were written with to OUTREACH_ENCRYPTION_KEYS and run `outreach keys rotate` again"
        )
