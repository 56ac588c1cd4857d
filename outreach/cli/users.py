"""`outreach user`: accounts."""

from __future__ import annotations

import click

from outreach import accounts
from outreach.cli.common import load_settings, read_secret, transaction


@click.group("user")
def user_group() -> None:
    """Accounts."""


@user_group.command("create")
@click.option("--email", required=True, help="The person's own email address (their login).")
@click.option("--name", required=True, help="Their name, as it signs their emails.")
@click.option("--introduction", default="", help="Their 30-second introduction for requests.")
def user_create(email: str, name: str, introduction: str) -> None:
    """Create an account. The password is read from a hidden prompt, or stdin's first line."""
    accounts.normalise_email(email)  # a typo is reported before anyone types a password
    password = read_secret("Password", confirm=True)
    settings = load_settings()
    with transaction(settings) as session:
        created = accounts.create_user(session, email, name, password)
        if introduction.strip():
            accounts.update_profile(
                session,
                created,
                name=created.name,
                introduction=introduction,
                signature=created.signature,
            )
        click.echo(f"created the account {created.email} (id {created.id})")
        if not created.introduction:
            click.echo(
                "note: requests use your 30-second introduction; add it in the dashboard's "
                "profile before approving drafts",
                err=True,
            )
