"""`outreach mailbox`: connect, list, test and discover the user's own mailbox."""

from __future__ import annotations

import click

from outreach import accounts
from outreach.cli.common import (
    acting_for,
    fail,
    find_user,
    iso,
    json_option,
    load_settings,
    print_json,
    read_secret,
    sessions,
    user_option,
    utcnow,
)
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import ValidationError
from outreach.models import Mailbox, TlsMode

TLS_MODES = [mode.value for mode in TlsMode]
# Default port per TLS mode when --imap-port / --smtp-port is not given.
IMAP_PORTS = {TlsMode.SSL: 993, TlsMode.STARTTLS: 143, TlsMode.NONE: 143}
SMTP_PORTS = {TlsMode.SSL: 465, TlsMode.STARTTLS: 587, TlsMode.NONE: 25}


@click.group("mailbox")
def mailbox_group() -> None:
    """The user's own mailbox (IMAP for replies, SMTP for sending)."""


@mailbox_group.command("add")
@user_option
@click.option("--address", required=True, help="The mailbox's email address.")
@click.option("--display-name", default="", help="Name shown in From (default: the user's).")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=click.IntRange(1, 65535), help="Default: 993 (ssl) or 143.")
@click.option("--imap-tls", type=click.Choice(TLS_MODES), default="ssl", show_default=True)
@click.option("--smtp-host", required=True)
@click.option(
    "--smtp-port", type=click.IntRange(1, 65535), help="Default: 465 (ssl), 587 (starttls), 25."
)
@click.option("--smtp-tls", type=click.Choice(TLS_MODES), default="starttls", show_default=True)
@click.option("--username", default="", help="Login name (default: the address).")
def mailbox_add(
    user_email: str,
    address: str,
    display_name: str,
    imap_host: str,
    imap_port: int | None,
    imap_tls: str,
    smtp_host: str,
    smtp_port: int | None,
    smtp_tls: str,
    username: str,
) -> None:
    """Connect a mailbox. Its (app) password is read from a hidden prompt, or stdin's first line."""
    settings = load_settings()
    imap_mode, smtp_mode = TlsMode(imap_tls), TlsMode(smtp_tls)
    mailbox_settings = accounts.MailboxSettings(
        email_address=address,
        display_name=display_name,
        imap_host=imap_host,
        imap_port=imap_port or IMAP_PORTS[imap_mode],
        imap_tls=imap_mode,
        smtp_host=smtp_host,
        smtp_port=smtp_port or SMTP_PORTS[smtp_mode],
        smtp_tls=smtp_mode,
        username=username or address,
    )
    with sessions(settings) as factory:
        # An unknown user is refused before anyone types a password.
        with session_scope(factory) as session:
            find_user(session, user_email)
        secret = read_secret("Mailbox password (or app password)", confirm=False)
        with session_scope(factory) as session:
            owner = find_user(session, user_email)
            box = SecretBox(settings.encryption_keys)
            added = accounts.connect_mailbox(session, owner, box, mailbox_settings, secret)
        click.echo(
            f"connected {added.email_address} (mailbox {added.id}); "
            f"check it with `outreach mailbox test --user {owner.email} {added.id}`"
        )


def mailbox_json(item: Mailbox) -> dict[str, object]:
    return {
        "id": item.id,
        "address": item.email_address,
        "display_name": item.display_name,
        "imap_host": item.imap_host,
        "imap_port": item.imap_port,
        "imap_tls": item.imap_tls.value,
        "smtp_host": item.smtp_host,
        "smtp_port": item.smtp_port,
        "smtp_tls": item.smtp_tls.value,
        "username": item.username,
        "sent_folder": item.sent_folder,
        "status": item.status.value,
        "last_error": item.last_error,
        "created_at": iso(item.created_at),
    }


@mailbox_group.command("list")
@user_option
@json_option
def mailbox_list(user_email: str, as_json: bool) -> None:
    """List the user's mailboxes (never their secrets)."""
    with acting_for(user_email) as (session, owner):
        items = accounts.list_mailboxes(session, owner)
        if as_json:
            print_json({"mailboxes": [mailbox_json(item) for item in items]})
            return
        if not items:
            click.echo("no mailbox connected")
        for item in items:
            problem = f" ({item.last_error})" if item.last_error else ""
            click.echo(f"{item.id:>4}  {item.email_address}  {item.status.value}{problem}")


@mailbox_group.command("test")
@user_option
@click.argument("mailbox_id", required=False, type=int, metavar="[ID]")
def mailbox_test(user_email: str, mailbox_id: int | None) -> None:
    """Log in to IMAP and SMTP and find the Sent folder (default: the first mailbox)."""
    from outreach.connection_check import check_mailbox
    from outreach.mail.tls import client_context
    from outreach.oauth.tokens import AccessTokens

    settings = load_settings()
    box = SecretBox(settings.encryption_keys)
    with sessions(settings) as factory, session_scope(factory) as session:
        owner = find_user(session, user_email)
        if mailbox_id is None:
            chosen = accounts.primary_mailbox(session, owner)
            if chosen is None:
                raise ValidationError(
                    "no mailbox is connected; add one with `outreach mailbox add`"
                )
        else:
            chosen = accounts.get_mailbox(session, owner, mailbox_id)
        # An OAuth2 mailbox's token is fetched (or renewed) in its own transactions.
        tokens = AccessTokens.from_settings(settings, factory, box)
        report = check_mailbox(
            chosen,
            box,
            client_context(settings.ca_file),
            tokens,
            utcnow(),
            policy=settings.address_policy,
        )
        address = chosen.email_address
    # The outcome is committed above (status, Sent folder) before we report it.
    click.echo(f"{address}")
    click.echo(f"  IMAP login:  {'ok' if report.imap_ok else 'failed'}")
    click.echo(f"  SMTP login:  {'ok' if report.smtp_ok else 'failed'}")
    click.echo(f"  Sent folder: {report.sent_folder or 'not found'}")
    if report.sign_in_required:
        click.echo(f"  {report.problems[-1]}", err=True)
        fail(
            f"the mailbox {address} needs you to sign in again: open the Mailbox page "
            "of the dashboard and sign in with your provider; queued messages wait until then"
        )
    if not report.ok:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        fail(f"the mailbox {address} does not work yet")


_TLS_WORDS = {TlsMode.SSL: "SSL/TLS", TlsMode.STARTTLS: "STARTTLS", TlsMode.NONE: "no TLS"}
_SOURCE_WORDS = {
    "preset": "found in our presets",
    "autoconfig": "published by the domain (autoconfig)",
    "SRV records": "found in the domain's DNS SRV records",
    "MX guess": "guessed from the domain's MX records",
}


@mailbox_group.command("discover")
@json_option
@click.option(
    "--timeout", default=4.0, show_default=True, help="Seconds to wait for each network answer."
)
@click.argument("address")
def mailbox_discover(as_json: bool, timeout: float, address: str) -> None:
    """Find the IMAP and SMTP settings for ADDRESS: presets, autoconfig, DNS SRV, then MX.

    Needs no settings and no database; nothing is stored.
    """
    from outreach.mail.autodiscover import Lookup, discover

    accounts.normalise_email(address)
    found = discover(address, Lookup(timeout=timeout))
    if found is None:
        fail(
            f"no settings were found for {address} (tried our presets, autoconfig, DNS SRV and "
            "MX records); ask your provider for its IMAP and SMTP servers and use "
            "`outreach mailbox add`"
        )
    if as_json:
        print_json(
            {
                "address": address,
                "source": found.source.value,
                "provider": found.provider,
                "imap_host": found.imap_host,
                "imap_port": found.imap_port,
                "imap_tls": found.imap_tls.value,
                "smtp_host": found.smtp_host,
                "smtp_port": found.smtp_port,
                "smtp_tls": found.smtp_tls.value,
                "username": found.username,
                "username_style": found.username_style.name.lower(),
                "advice": found.advice,
                "oauth_provider": found.oauth_provider,
            }
        )
        return
    who = f"{found.provider} " if found.provider else ""
    click.echo(f"{address}: {who}({_SOURCE_WORDS[found.source.value]})")
    click.echo(f"  IMAP  {found.imap_host}:{found.imap_port}  {_TLS_WORDS[found.imap_tls]}")
    click.echo(f"  SMTP  {found.smtp_host}:{found.smtp_port}  {_TLS_WORDS[found.smtp_tls]}")
    click.echo(f"  User name: {found.username} ({found.username_style.value})")
    if found.advice:
        click.echo(f"  {found.advice}")
