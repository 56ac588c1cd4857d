"""`outreach invite`: one-time links to create an account (OUTREACH_SIGNUP=invite)."""

from __future__ import annotations

import click

from outreach import signup
from outreach.cli.common import iso, json_option, load_settings, print_json, transaction, utcnow
from outreach.models import Role, SignupInvite


@click.group("invite")
def invite_group() -> None:
    """Invitations to sign up, for a dashboard whose sign-up is by invitation."""


def _json(invite: SignupInvite) -> dict[str, object]:
    return {
        "id": invite.id,
        "email": invite.email,
        "role": invite.role.value,
        "state": signup.invite_state(invite, utcnow()),
        "created_at": iso(invite.created_at),
        "expires_at": iso(invite.expires_at),
        "used_at": iso(invite.used_at),
        "revoked_at": iso(invite.revoked_at),
    }


@invite_group.command("create")
@click.argument("email")
@click.option(
    "--days",
    type=int,
    default=signup.DEFAULT_INVITE_DAYS,
    show_default=True,
    help=f"How long the link works (at most {signup.MAX_INVITE_DAYS} days).",
)
@click.option(
    "--role",
    type=click.Choice([role.value for role in signup.INVITABLE_ROLES]),
    default=Role.STUDENT.value,
    show_default=True,
    help="The account's role: adviser also runs cohorts.",
)
@json_option
def invite_create(email: str, days: int, role: str, as_json: bool) -> None:
    """Make a one-time sign-up link for EMAIL and print it, to send them yourself.

    The link is shown once: only a hash of it is stored.
    """
    settings = load_settings()
    with transaction(settings) as session:
        made = signup.create_invite(session, email, utcnow(), days, Role(role))
        public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        link = made.link(public_url)
        if as_json:
            print_json({**_json(made.invite), "link": link})
        else:
            click.echo(link)
            click.echo(
                f"invitation {made.invite.id} for {made.invite.email} "
                f"({made.invite.role.value}), works once until "
                f"{iso(made.invite.expires_at)}",
                err=True,
            )
    if settings.public_url is None:
        click.echo(
            "note: OUTREACH_PUBLIC_URL is not set, so the link points to this machine; "
            "set it to the dashboard's address for links others can open",
            err=True,
        )
    if settings.signup == signup.CLOSED:
        click.echo(
            "note: OUTREACH_SIGNUP is 'closed'; the dashboard accepts invitations only "
            "when it is 'invite' or 'open'",
            err=True,
        )


@invite_group.command("list")
@json_option
def invite_list(as_json: bool) -> None:
    """Every invitation, with whether it waits, was used, expired or was revoked."""
    with transaction(load_settings()) as session:
        items = [_json(invite) for invite in signup.list_invites(session)]
    if as_json:
        print_json({"invites": items})
        return
    if not items:
        click.echo("no invitations yet; make one with `outreach invite create EMAIL`")
    for item in items:
        click.echo(
            f"{item['id']:>5}  {item['email']}  {item['role']}  {item['state']}  "
            f"expires {item['expires_at']}"
        )


@invite_group.command("revoke")
@click.argument("which", metavar="ID|EMAIL")
def invite_revoke(which: str) -> None:
    """Withdraw an invitation (by id), or every waiting one for an address."""
    with transaction(load_settings()) as session:
        revoked = signup.revoke_invites(session, which, utcnow())
        for invite in revoked:
            click.echo(f"revoked invitation {invite.id} for {invite.email}")
