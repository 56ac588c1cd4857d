""" "Test connection": really log in to IMAP and SMTP and find the Sent folder."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from outreach.accounts import imap_login, smtp_login
from outreach.crypto import SecretBox
from outreach.errors import MailboxAuthFailed, MailboxError
from outreach.mail.imap import ImapSource
from outreach.mail.smtp import SmtpSender
from outreach.models import Mailbox, MailboxStatus


@dataclass
class CheckReport:
    imap_ok: bool = False
    smtp_ok: bool = False
    sent_folder: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.imap_ok and self.smtp_ok and not self.problems


def check_mailbox(mailbox: Mailbox, box: SecretBox, context: ssl.SSLContext) -> CheckReport:
    """Log in to both servers; record the Sent folder and the outcome on `mailbox`."""
    report = CheckReport()
    try:
        with ImapSource(imap_login(mailbox, box), context) as source:
            report.imap_ok = True
            report.sent_folder = source.find_sent_folder()
            if report.sent_folder is None:
                report.problems.append("IMAP: no Sent folder was found")
    except MailboxAuthFailed as error:
        report.problems.append(f"IMAP: {error}")
    except MailboxError as error:
        report.problems.append(f"IMAP: {error}")
    try:
        SmtpSender(context).check_login(smtp_login(mailbox, box))
        report.smtp_ok = True
    except MailboxError as error:
        report.problems.append(f"SMTP: {error}")
    if report.sent_folder:
        mailbox.sent_folder = report.sent_folder
    mailbox.status = MailboxStatus.OK if report.ok else MailboxStatus.NEEDS_ATTENTION
    if report.smtp_ok:
        # The server takes our password again: messages held back may go now.
        mailbox.sending_paused = False
    mailbox.last_error = "; ".join(report.problems) or None
    return report
