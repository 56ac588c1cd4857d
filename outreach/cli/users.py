"""`outreach user`: accounts."""

from __future__ import annotations

import click

from outreach import accounts
from outreach.cli.common import acting_for, load_settings, read_secret, transaction
from outreach.models import Role


@click.group("user")
def user_group() -> None:
    """Accounts."""


@user_group.command("create")
@click.option("--email", required=True, help="The person's own email address (their login).")
@click.option("--name", required=True, help="Their name, as it signs their emails.")
@click.option("--introduction", default="", help="Their 30-second introduction for requests.")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=Role.STUDENT.value,
    show_default=True,
    help="adviser: also runs cohorts (`outreach cohort`); admin: runs the deployment.",
)
def user_create(email: str, name: str, introduction: str, role: str) -> None:
    """Create an account. The password is read from a hidden prompt, or stdin's first line."""
    accounts.normalise_email(email)  # a typo is reported before anyone types a password
    password = read_secret("Password", confirm=True)
    settings = load_settings()
    with transaction(settings) as session:
        created = accounts.create_user(session, email, name, password)
        created.role = Role(role)
        if introduction.strip():
            accounts.update_profile(
                session,
                created,
                name=created.name,
                introduction=introduction,
                signature=created.signature,
            )
        as_role = "" if created.role == Role.STUDENT else f" as {created.role.value}"
        click.echo(f"created the account {created.email} (id {created.id}){as_role}")
        if not created.introduction:
            click.echo(
                "note: requests use your 30-second introduction; add it in the dashboard's "
                "profile before approving drafts",
                err=True,
            )


@user_group.command("set-password")
@click.option("--email", required=True, help="The account's email address (its login).")
def user_set_password(email: str) -> None:
    """Give an account a new password and end all its sign-ins.

    For someone who forgot theirs. The password is read from a hidden prompt, or
    stdin's first line; every browser signed in to the account is signed out.
    """
    accounts.normalise_email(email)  # a typo is reported before anyone types a password
    password = read_secret("New password", confirm=True)
    with acting_for(email) as (session, user):
        accounts.set_password(session, user, password)
        click.echo(f"set a new password for {user.email}; every sign-in to it has ended")
