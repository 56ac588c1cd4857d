"""What the use cases need from mail servers: where they are, how to log in, and Protocols.

The adapters (imap, smtp) live beside this; they know only outreach.models.accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any, Protocol, Self

from outreach.errors import MailboxAuthFailed
from outreach.models.accounts import TlsMode
from outreach.rules.plain_text import control_character_problem


@dataclass(frozen=True)
class MailServer:
    """Where one IMAP or SMTP server is: host, port and how TLS is used."""

    host: str
    port: int
    tls: TlsMode


@dataclass(frozen=True, kw_only=True)
class MailServers:
    """A mailbox's two servers, IMAP to read and SMTP to send: the one type for their settings.

    A preset, settings found by autodiscovery, an OAuth2 provider and a mailbox
    being connected are each these six fields and their own; flat, as the
    Mailbox row keeps them. `imap` and `smtp` give each server as a MailServer.
    """

    imap_host: str
    imap_port: int
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_tls: TlsMode

    @classmethod
    def joining(cls, imap: MailServer, smtp: MailServer, **details: Any) -> Self:
        """An instance of `cls` on these two servers; `details` are its other fields."""
        return cls(
            imap_host=imap.host,
            imap_port=imap.port,
            imap_tls=imap.tls,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_tls=smtp.tls,
            **details,
        )

    @property
    def imap(self) -> MailServer:
        return MailServer(self.imap_host, self.imap_port, self.imap_tls)

    @property
    def smtp(self) -> MailServer:
        return MailServer(self.smtp_host, self.smtp_port, self.smtp_tls)


@dataclass(frozen=True)
class ServerLogin:
    """How to reach and log in to one server. Secrets never appear in repr.

    With an `access_token` the login is SASL XOAUTH2 (Google, Microsoft) and
    `password` is unused; without one it is a plain user name and password.
    """

    host: str
    port: int
    tls: TlsMode
    username: str
    password: str = field(repr=False)
    access_token: str = field(default="", repr=False)

    @property
    def uses_oauth(self) -> bool:
        return bool(self.access_token)


def refuse_in_login(login: ServerLogin) -> None:
    """The last guard before a user name or password goes onto an IMAP or SMTP line.

    :raise MailboxAuthFailed: either holds a control character (a CR or LF would
        end the command early and start another).
    """
    for what, value in (("user name", login.username), ("password", login.password)):
        problem = control_character_problem(f"the mailbox's {what}", value)
        if problem:
            raise MailboxAuthFailed(f"{problem}; please correct it on the Mailbox page")


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64: user, bearer token, two ^A.

    The format is Google's and Microsoft's (developers.google.com/gmail/imap/xoauth2-protocol).
    """
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


class MailSender(Protocol):
    def send(
        self, login: ServerLogin, message: EmailMessage, before_data: Callable[[], None]
    ) -> None:
        """Deliver `message` to its recipients through the SMTP server.

        `before_data` is called after the server accepted the envelope and just
        before the body goes out: from then on, a broken connection is unknown.
        When it raises SendWithheld, the transaction is reset and the error passes on.

        :raise MailboxAuthFailed: the server refused the credentials.
        :raise TemporaryFailure: nothing was accepted and a retry may work.
        :raise PermanentFailure: the server refused the message for good.
        :raise DeliveryUnknown: the link broke after the body went out.
        """


@dataclass(frozen=True)
class FetchedHeaders:
    """The header fields of one message, and its Gmail thread id where the server has them.

    `gm_thread_id` is Gmail's X-GM-THRID (IMAP extension X-GM-EXT-1): every
    message of a conversation carries the same one, even a reply whose client
    dropped In-Reply-To and References. None on servers without the extension.
    """

    uid: int
    raw_headers: bytes
    gm_thread_id: int | None = None


@dataclass(frozen=True)
class FolderBatch:
    """New messages in a folder since a UID, and the folder's UIDVALIDITY.

    `passed_uid` is the highest UID the batch accounts for: at least that of its
    last message, and higher when older messages were passed over unread (a
    fetch `since` a date), so the next sync starts after them.
    """

    folder: str
    uidvalidity: int
    messages: list[FetchedHeaders]
    passed_uid: int = 0


class MailSource(Protocol):
    def fetch_new(self, folder: str, after_uid: int, since: date | None = None) -> FolderBatch:
        """Return the headers of messages with a UID above `after_uid`, read-only.

        With `since`, only messages the server received on or after that day are
        read; the batch's `passed_uid` then covers the older ones too.
        """

    def fetch_body(self, folder: str, uid: int) -> bytes:
        """Return the whole message without setting any flag."""


class SentFolder(Protocol):
    """The Sent folder of a mailbox: look for a message, or file a copy of one."""

    def find_sent_folder(self) -> str | None:
        """The folder flagged \\Sent, else one with a usual name, else None."""

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a message with this Message-ID is in `folder`."""

    def append(self, folder: str, raw: bytes) -> None:
        """File `raw` in `folder`, flagged \\Seen."""
