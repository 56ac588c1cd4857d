"""Server settings of the big mail providers, found from an address (pure).

This is the one table of provider host names: the OAuth2 providers' default
servers and the dashboard's list of servers are read from it too.

A preset fills in the connect form; the user can still change every field, and
"Test connection" checks the result for real.
"""

from __future__ import annotations

from dataclasses import dataclass

from outreach.mail import MailServer, MailServers
from outreach.models.accounts import TlsMode


@dataclass(frozen=True, kw_only=True)
class Preset(MailServers):
    provider: str
    # Whether the provider files a copy of sent mail in Sent by itself.
    files_sent_copy: bool
    # What the user must know to log in, in our words.
    advice: str
    # The OAuth2 provider ("google", "microsoft") whose sign-in also reaches this
    # mailbox, when the deployment has an app registered for it.
    oauth_provider: str | None = None
    # The name in the dashboard's list of servers, when it covers more than `provider`.
    listed_as: str = ""


_GMAIL_APP_PASSWORD = (
    "Your normal Google password will not work here: turn on 2-Step Verification, "
    "then create an app password (Google Account, Security, App passwords) and paste "
    "its 16 letters as the password."
)
_OUTLOOK_SIGN_IN = (
    "Microsoft no longer accepts passwords, app passwords included, from other mail "
    "programs for Outlook.com, Hotmail and Live accounts: connect with Sign in with "
    "Microsoft (OAuth2)."
)
_YAHOO_APP_PASSWORD = (
    "Use an app password: in your Yahoo account's security settings choose "
    "Generate app password; your normal Yahoo password will not work here."
)

PRESETS: tuple[tuple[frozenset[str], Preset], ...] = (
    (
        frozenset({"gmail.com", "googlemail.com"}),
        Preset.joining(
            MailServer("imap.gmail.com", 993, TlsMode.SSL),
            MailServer("smtp.gmail.com", 465, TlsMode.SSL),
            provider="Gmail",
            files_sent_copy=True,
            advice=_GMAIL_APP_PASSWORD,
            oauth_provider="google",
        ),
    ),
    (
        frozenset({"outlook.com", "hotmail.com", "live.com", "msn.com"}),
        Preset.joining(
            MailServer("outlook.office365.com", 993, TlsMode.SSL),
            MailServer("smtp.office365.com", 587, TlsMode.STARTTLS),
            provider="Outlook.com",
            files_sent_copy=True,
            advice=_OUTLOOK_SIGN_IN,
            oauth_provider="microsoft",
            listed_as="Outlook / Microsoft 365",
        ),
    ),
    (
        frozenset({"icloud.com", "me.com", "mac.com"}),
        Preset.joining(
            MailServer("imap.mail.me.com", 993, TlsMode.SSL),
            MailServer("smtp.mail.me.com", 587, TlsMode.STARTTLS),
            provider="iCloud Mail",
            files_sent_copy=True,
            advice="Use an app-specific password: in your Apple Account's Sign-In and Security "
            "settings choose App-Specific Passwords; your Apple Account password will not "
            "work here.",
        ),
    ),
    (
        frozenset({"yahoo.com", "ymail.com", "rocketmail.com"}),
        Preset.joining(
            MailServer("imap.mail.yahoo.com", 993, TlsMode.SSL),
            MailServer("smtp.mail.yahoo.com", 465, TlsMode.SSL),
            provider="Yahoo Mail",
            files_sent_copy=True,
            advice=_YAHOO_APP_PASSWORD,
        ),
    ),
    (
        frozenset({"fastmail.com", "fastmail.fm"}),
        Preset.joining(
            MailServer("imap.fastmail.com", 993, TlsMode.SSL),
            MailServer("smtp.fastmail.com", 465, TlsMode.SSL),
            provider="Fastmail",
            files_sent_copy=False,
            advice="Use an app password: in Fastmail's Settings, Privacy & Security, create one "
            "with access to IMAP and SMTP.",
        ),
    ),
)


def preset_for(address: str) -> Preset | None:
    """The preset for the address's domain, or None when we know no preset for it."""
    domain = address.strip().rpartition("@")[2].lower()
    for domains, preset in PRESETS:
        if domain in domains:
            return preset
    return None


def preset_named(provider: str) -> Preset | None:
    """The preset whose `provider` is this name ("Gmail"), or None."""
    return next((preset for _, preset in PRESETS if preset.provider == provider), None)


def oauth_servers(oauth_provider: str) -> MailServers:
    """The servers an OAuth2 provider's sign-in ("google", "microsoft") reaches.

    :raise LookupError: for a provider no preset names.
    """
    for _, preset in PRESETS:
        if preset.oauth_provider == oauth_provider:
            return MailServers.joining(preset.imap, preset.smtp)
    raise LookupError(f"no preset has the servers of the OAuth2 provider '{oauth_provider}'")


def listed_servers() -> list[tuple[str, str, str]]:
    """(name, IMAP host, SMTP host) of each preset, as the dashboard lists them."""
    return [
        (preset.listed_as or preset.provider, preset.imap_host, preset.smtp_host)
        for _, preset in PRESETS
    ]
