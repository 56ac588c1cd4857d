""" "Test connection": really log in to IMAP and SMTP and find the Sent folder."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import datetime

from outreach import clock
from outreach.crypto import SecretBox
from outreach.errors import (
    MailboxAuthFailed,
    MailboxError,
    OAuthError,
    SignInRequired,
    TemporaryFailure,
)
from outreach.mail import ServerLogin
from outreach.mail.imap import ImapSource
from outreach.mail.presets import preset_for
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy, Deadline
from outreach.mail.smtp import SmtpSender
from outreach.mailbox_login import MailboxLogin, uses_oauth
from outreach.models import Mailbox, MailboxStatus
from outreach.oauth.providers import LABELS
from outreach.oauth.tokens import AccessTokens, sign_in_again

# "Test connection" answers within this many seconds in all, IMAP and SMTP together,
# whatever the servers do (a silent port included).
CHECK_SECONDS = 15.0


@dataclass
class CheckReport:
    imap_ok: bool = False
    smtp_ok: bool = False
    sent_folder: str | None = None
    problems: list[str] = field(default_factory=list)
    # OAuth2 only: the provider no longer accepts the sign-in; nothing but a new one helps.
    sign_in_required: bool = False
    # A server refused the user name or password (as opposed to not being reached).
    password_refused: bool = False

    @property
    def ok(self) -> bool:
        return self.imap_ok and self.smtp_ok and not self.problems


def check_mailbox(
    mailbox: Mailbox,
    box: SecretBox,
    context: ssl.SSLContext,
    tokens: AccessTokens | None = None,
    now: datetime | None = None,
    policy: AddressPolicy = ANY_ADDRESS,
    seconds: float = CHECK_SECONDS,
) -> CheckReport:
    """Log in to both servers; record the Sent folder and the outcome on `mailbox`.

    An OAuth2 mailbox needs `tokens` (the process's AccessTokens), which fetch
    or renew its access token; `now` defaults to the shared clock. Both servers
    are reached at addresses `policy` allows, and within `seconds` in all: SMTP
    gets what IMAP left of them.
    """
    report = CheckReport()
    deadline = Deadline.after(seconds)
    if uses_oauth(mailbox) and tokens is None:
        # A wiring mistake, not the mailbox's fault: its status is left as it is.
        report.problems.append(
            "this part of Outreach was started without its OAuth2 settings, so it cannot "
            "test a mailbox that signs in with Google or Microsoft"
        )
        return report

    def moment() -> datetime:
        return now if now is not None else clock.now()

    def imap_attempt(login: ServerLogin) -> None:
        """Log in to IMAP (raises MailboxAuthFailed) and look for the Sent folder."""
        with ImapSource(login, context, policy, deadline) as source:
            report.imap_ok = True
            report.sent_folder = source.find_sent_folder()
            if report.sent_folder is None:
                report.problems.append("IMAP: no Sent folder was found")

    def smtp_attempt(login: ServerLogin) -> None:
        if deadline.left() <= 0:
            raise TemporaryFailure(
                f"{login.host} was not tried: the IMAP server took all the time the test has"
            )
        SmtpSender(context, policy).check_login(login, deadline)
        report.smtp_ok = True

    try:
        for what, attempt, login in (
            ("IMAP", imap_attempt, MailboxLogin.imap(mailbox, box)),
            ("SMTP", smtp_attempt, MailboxLogin.smtp(mailbox, box)),
        ):
            try:
                login.log_in(attempt, tokens, moment)
            except SignInRequired:
                raise
            except (OAuthError, MailboxError) as error:
                report.problems.append(f"{what}: {error}")
                # Only a password is refused as such; a refused token ends in SignInRequired.
                refused = isinstance(error, MailboxAuthFailed)
                report.password_refused = report.password_refused or refused
    except SignInRequired:
        label = LABELS.get(mailbox.oauth_provider or "", "The provider")
        report.sign_in_required = True
        report.problems.append(sign_in_again(label))
    preset = preset_for(mailbox.email_address)
    if report.password_refused and preset is not None:
        # Most refusals at the big providers mean "use an app password": say how.
        report.problems.append(f"{preset.provider}: {preset.advice}")
    _record(mailbox, report)
    return report


def _record(mailbox: Mailbox, report: CheckReport) -> None:
    if report.sent_folder:
        mailbox.sent_folder = report.sent_folder
    if report.sign_in_required:
        # The same as outreach.oauth.tokens stored in its own transaction; set here too so the
        # caller's session, committing after us, does not write an older status back.
        mailbox.status = MailboxStatus.NEEDS_SIGN_IN
        mailbox.sending_paused = True
        mailbox.last_error = report.problems[-1]
        return
    mailbox.status = MailboxStatus.OK if report.ok else MailboxStatus.NEEDS_ATTENTION
    if report.smtp_ok:
        # The server takes our password again: messages held back may go now.
        mailbox.sending_paused = False
    mailbox.last_error = "; ".join(report.problems) or None
