"""Server settings of the big mail providers, found from an address (pure).

A preset fills in the connect form; the user can still change every field, and
"Test connection" checks the result for real.
"""

from __future__ import annotations

from dataclasses import dataclass

from outreach.models.accounts import TlsMode


@dataclass(frozen=True)
class Preset:
    provider: str
    imap_host: str
    imap_port: int
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_tls: TlsMode
    # Whether the provider files a copy of sent mail in Sent by itself.
    files_sent_copy: bool
    # What the user must know to log in, in our words.
    advice: str
    # The OAuth2 provider ("google", "microsoft") whose sign-in also reaches this
    # mailbox, when the deployment has an app registered for it.
    oauth_provider: str | None = None


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
        Preset(
            "Gmail",
            "imap.gmail.com",
            993,
            TlsMode.SSL,
            "smtp.gmail.com",
            465,
            TlsMode.SSL,
            True,
            _GMAIL_APP_PASSWORD,
            "google",
        ),
    ),
    (
        frozenset({"outlook.com", "hotmail.com", "live.com", "msn.com"}),
        Preset(
            "Outlook.com",
            "outlook.office365.com",
            993,
            TlsMode.SSL,
            "smtp.office365.com",
            587,
            TlsMode.STARTTLS,
            True,
            _OUTLOOK_SIGN_IN,
            "microsoft",
        ),
    ),
    (
        frozenset({"icloud.com", "me.com", "mac.com"}),
        Preset(
            "iCloud Mail",
            "imap.mail.me.com",
            993,
            TlsMode.SSL,
            "smtp.mail.me.com",
            587,
            TlsMode.STARTTLS,
            True,
            "Use an app-specific password: in your Apple Account's Sign-In and Security "
            "settings choose App-Specific Passwords; your Apple Account password will not "
            "work here.",
        ),
    ),
    (
        frozenset({"yahoo.com", "ymail.com", "rocketmail.com"}),
        Preset(
            "Yahoo Mail",
            "imap.mail.yahoo.com",
            993,
            TlsMode.SSL,
            "smtp.mail.yahoo.com",
            465,
            TlsMode.SSL,
            True,
            _YAHOO_APP_PASSWORD,
        ),
    ),
    (
        frozenset({"fastmail.com", "fastmail.fm"}),
        Preset(
            "Fastmail",
            "imap.fastmail.com",
            993,
            TlsMode.SSL,
            "smtp.fastmail.com",
            465,
            TlsMode.SSL,
            False,
            "Use an app password: in Fastmail's Settings, Privacy & Security, create one "
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
