"""Read the user's mailbox with imapclient, never changing anything in it.

Folders are opened read-only (EXAMINE) and bodies fetched with BODY.PEEK, so no
\\Seen flag is ever set; nothing is moved, copied or deleted.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
import time
from collections.abc import Callable
from datetime import date
from types import TracebackType
from typing import Self

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from outreach.errors import MailboxAuthFailed, TemporaryFailure
from outreach.mail import FetchedHeaders, FolderBatch, ServerLogin, refuse_in_login
from outreach.mail.problems import connection_problem, in_time
from outreach.mail.reach import (
    ANY_ADDRESS,
    AddressPolicy,
    Deadline,
    NotAMailServer,
    Watchdog,
    connect_checked,
)
from outreach.models.accounts import TlsMode

HEADER_FIELDS = (
    b"MESSAGE-ID IN-REPLY-TO REFERENCES FROM TO CC SUBJECT DATE CONTENT-TYPE "
    b"AUTO-SUBMITTED X-AUTOREPLY X-AUTORESPOND PRECEDENCE X-AUTO-RESPONSE-SUPPRESS "
    b"X-MICROSOFT-ORIGINAL-MESSAGE-ID RETURN-PATH X-FAILED-RECIPIENTS "
    b"X-MS-EXCHANGE-GENERATED-MESSAGE-SOURCE X-MS-EXCHANGE-INBOX-RULES-LOOP"
)
_HEADER_ITEM = b"BODY.PEEK[HEADER.FIELDS (" + HEADER_FIELDS + b")]"
# Gmail's thread id (developers.google.com/gmail/imap/imap-extensions), asked for
# in the same FETCH as the header fields when the server offers X-GM-EXT-1.
GMAIL_EXTENSION = b"X-GM-EXT-1"
_GMAIL_THREAD_ITEM = b"X-GM-THRID"
TIMEOUT = 60.0
# Large folders are fetched in slices: some servers refuse very long UID sets.
FETCH_CHUNK = 200


class _PlainImap(imaplib.IMAP4):
    """imaplib on a socket from `connect` (a checked address); STARTTLS may follow."""

    def __init__(self, host: str, port: int, connect: Callable[[str, int], socket.socket]) -> None:
        self._connect_to = connect
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._connect_to(self.host, self.port)


class _TlsImap(_PlainImap):
    """imaplib over implicit TLS, verified against the host name, not the address."""

    def __init__(
        self,
        host: str,
        port: int,
        connect: Callable[[str, int], socket.socket],
        context: ssl.SSLContext,
        watchdog: Watchdog,
    ) -> None:
        self._tls_context = context
        self._watchdog = watchdog
        super().__init__(host, port, connect)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        plain = super()._create_socket(timeout)
        try:
            sock = self._tls_context.wrap_socket(
                plain, server_hostname=self.host, do_handshake_on_connect=False
            )
        except BaseException:
            plain.close()
            raise
        # Guarded before the handshake: wrapping detached the plain socket.
        self._watchdog.guard(sock)
        try:
            sock.do_handshake()
        except BaseException:
            sock.close()
            raise
        return sock


class _CheckedClient(IMAPClient):  # type: ignore[misc]
    """IMAPClient connected through outreach.mail.reach: a checked address, within a deadline."""

    def __init__(
        self,
        login: ServerLogin,
        context: ssl.SSLContext,
        policy: AddressPolicy,
        deadline: Deadline,
        watchdog: Watchdog,
    ) -> None:
        self._policy = policy
        self._deadline = deadline
        self._watchdog = watchdog
        super().__init__(
            login.host,
            port=login.port,
            ssl=login.tls is TlsMode.SSL,
            ssl_context=context,
            timeout=deadline.timeout(TIMEOUT),
        )

    def _connect(self, host: str, port: int) -> socket.socket:
        sock = connect_checked(host, port, self._deadline, self._policy, TIMEOUT)
        return self._watchdog.guard(sock)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        if self.ssl:
            return _TlsImap(self.host, self.port, self._connect, self.ssl_context, self._watchdog)
        return _PlainImap(self.host, self.port, self._connect)


class ImapSource:
    """A logged-in, read-only view of one mailbox. Use as a context manager.

    Connecting, TLS, the greeting and the login end by `deadline` (default: TIMEOUT
    seconds from `open`), at an address `policy` allows.
    """

    def __init__(
        self,
        login: ServerLogin,
        context: ssl.SSLContext,
        policy: AddressPolicy = ANY_ADDRESS,
        deadline: Deadline | None = None,
    ) -> None:
        self._login = login
        self._context = context
        self._policy = policy
        self._deadline = deadline
        self._client: IMAPClient | None = None
        self._selected: str | None = None
        self._gmail: bool | None = None
        # The INBOX's UIDNEXT when it was last read: a higher one means new mail.
        self._inbox_uidnext: int | None = None

    def __enter__(self) -> Self:
        return self.open()

    def open(self) -> Self:
        """Connect and log in, unless already done; `with` does this by itself."""
        if self._client is not None:
            return self
        login = self._login
        # A CR or LF in the user name would end the LOGIN command early: refused before
        # anything is sent.
        refuse_in_login(login)
        deadline = self._deadline or Deadline.after(TIMEOUT)
        with Watchdog(deadline) as watchdog:
            client = self._connect(login, deadline, watchdog)
            self._log_in(client, login, watchdog)
        # Later commands (a large folder's FETCH) get the usual time again.
        client.socket().settimeout(TIMEOUT)
        self._client = client
        return self

    def _connect(self, login: ServerLogin, deadline: Deadline, watchdog: Watchdog) -> IMAPClient:
        try:
            client = _CheckedClient(login, self._context, self._policy, deadline, watchdog)
        except TemporaryFailure:
            raise  # an address refused, or a name not found: said in words already
        except (TimeoutError, OSError, IMAPClientError, imaplib.IMAP4.error) as error:
            if watchdog.fired:
                raise TemporaryFailure(in_time(login.host, login.port)) from None
            if isinstance(error, imaplib.IMAP4.error):
                # Whatever answered did not greet like IMAP: its words stay unsaid.
                raise NotAMailServer(login.host, login.port) from None
            raise TemporaryFailure(connection_problem(login.host, login.port, error)) from None
        try:
            if login.tls is TlsMode.STARTTLS:
                client.starttls(self._context)
                # imaplib swapped in a TLS socket: the watchdog must be able to stop it too.
                watchdog.guard(client.socket())
        except (TimeoutError, OSError, IMAPClientError, imaplib.IMAP4.error) as error:
            _shut(client)
            if watchdog.fired:
                raise TemporaryFailure(in_time(login.host, login.port)) from None
            raise TemporaryFailure(connection_problem(login.host, login.port, error)) from None
        return client

    @staticmethod
    def _log_in(client: IMAPClient, login: ServerLogin, watchdog: Watchdog) -> None:
        try:
            if login.uses_oauth:
                # SASL XOAUTH2; imapclient builds the user=...^Aauth=Bearer ... string.
                client.oauth2_login(login.username, login.access_token)
            else:
                client.login(login.username, login.password)
        except LoginError as error:
            client.shutdown()
            what = "the sign-in (access token)" if login.uses_oauth else "the user name or password"
            raise MailboxAuthFailed(f"the IMAP server refused {what} ({_text(error)})") from None
        except (TimeoutError, OSError, IMAPClientError, imaplib.IMAP4.error) as error:
            client.shutdown()
            if watchdog.fired:
                raise TemporaryFailure(in_time(login.host, login.port)) from None
            raise TemporaryFailure(f"logging in to {login.host} failed: {error}") from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            try:
                self._client.logout()
            except (OSError, IMAPClientError, imaplib.IMAP4.error):
                self._client.shutdown()
            self._client = None

    def offers_idle(self) -> bool:
        """Whether the server announces new mail by itself (IMAP IDLE, RFC 2177)."""
        return b"IDLE" in self.client.capabilities()

    def wait_for_mail(self, seconds: float) -> bool:
        """IDLE on the INBOX for at most `seconds`; True as soon as new mail is announced.

        Nothing is read or flagged. `interrupt` (from another thread) ends the
        wait with TemporaryFailure, as a dropped link does.

        :raise TemporaryFailure: the link broke (or was interrupted) meanwhile.
        """
        client = self.client
        try:
            # Mail that came during the last sync was announced in the answer to some
            # other command, where nobody listened, and an IDLE never announces mail that
            # came before it began (Dovecot 2.3 tells of it only at DONE): the UIDNEXT of
            # a fresh EXAMINE tells of it. Not STATUS: on the selected folder Dovecot
            # answers from the session's old view ([CLIENTBUG]), the UIDNEXT of before.
            uidnext = _uidnext(self._examine("INBOX"))
            if self._inbox_uidnext is not None and uidnext > self._inbox_uidnext:
                return True
            client.idle()
            arrived = False
            try:
                ends = time.monotonic() + seconds
                empty = 0
                while not arrived and (left := ends - time.monotonic()) > 0:
                    responses = client.idle_check(timeout=left)
                    arrived = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
                    # Readable yet nothing to read, again and again: the server hung up
                    # (imapclient returns nothing at EOF), and this loop would spin.
                    empty = empty + 1 if not responses and ends > time.monotonic() else 0
                    if empty >= 3:
                        raise TemporaryFailure("the server closed the connection")
            finally:
                client.idle_done()
        except (TimeoutError, OSError, ValueError, IMAPClientError, imaplib.IMAP4.error) as error:
            # ValueError: the socket was shut by `interrupt` while select() watched it.
            raise TemporaryFailure(f"waiting for new mail failed: {error}") from None
        return arrived

    def interrupt(self) -> None:
        """Break the link from another thread, so a `wait_for_mail` ends at once."""
        client = self._client
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def close(self) -> None:
        """Log out (or drop the link when the server is gone); the source may not be reused."""
        try:
            self.__exit__(None, None, None)
        except OSError:
            self._client = None  # the link was already broken: nothing is left open

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise RuntimeError("ImapSource used outside its 'with' block")
        return self._client

    def _examine(self, folder: str) -> dict[bytes, object]:
        info: dict[bytes, object] = self.client.select_folder(folder, readonly=True)
        self._selected = folder
        return info

    def find_sent_folder(self) -> str | None:
        """The folder flagged \\Sent (RFC 6154), else one with a usual name."""
        found: str | None = self.client.find_special_folder(b"\\Sent")
        return found

    def is_gmail(self) -> bool:
        """Whether the server offers Gmail's IMAP extension (X-GM-EXT-1).

        The capabilities come with the login's answer on most servers, so this
        usually costs no round trip; asked once per connection in any case.
        """
        if self._gmail is None:
            self._gmail = GMAIL_EXTENSION in self.client.capabilities()
        return self._gmail

    def watched_folders(self, sent_folder: str | None) -> list[str]:
        """The folders a reply or the user's own mail can be in.

        On Gmail that is All Mail alone: it holds the INBOX, the Sent mail and
        anything a filter archived. Elsewhere, the INBOX and the Sent folder.
        """
        try:
            if self.is_gmail():
                all_mail: str | None = self.client.find_special_folder(b"\\All")
                if all_mail:
                    return [all_mail]
            sent = sent_folder or self.find_sent_folder()
        except (OSError, IMAPClientError, imaplib.IMAP4.abort) as error:
            raise TemporaryFailure(f"listing folders failed: {error}") from None
        return ["INBOX", sent] if sent and sent.upper() != "INBOX" else ["INBOX"]

    def fetch_new(self, folder: str, after_uid: int, since: date | None = None) -> FolderBatch:
        try:
            info = self._examine(folder)
            uidvalidity = int(info[b"UIDVALIDITY"])  # type: ignore[call-overload]
            uidnext = _uidnext(info)
            if folder == "INBOX":
                self._inbox_uidnext = uidnext
            criteria: list[object] = ["UID", f"{after_uid + 1}:*"]
            if since is not None and uidnext:
                # The server picks the messages it received since that day (SEARCH
                # SINCE: their INTERNALDATE): the older ones are never read.
                criteria += ["SINCE", since]
            # "N:*" always includes the highest UID even when it is below N
            # (RFC 3501 6.4.8), so the result is filtered again here.
            found = self.client.search(criteria)
            uids = sorted(uid for uid in found if uid > after_uid)
            passed_uid = max([after_uid, *uids[-1:]])
            if since is not None and uidnext:
                # Every UID below UIDNEXT was in the folder when it was opened, so the
                # SEARCH weighed it; anything later has a higher UID and comes next time.
                passed_uid = max(passed_uid, uidnext - 1)
            items = [_HEADER_ITEM, _GMAIL_THREAD_ITEM] if self.is_gmail() else [_HEADER_ITEM]
            messages: list[FetchedHeaders] = []
            for start in range(0, len(uids), FETCH_CHUNK):
                chunk = uids[start : start + FETCH_CHUNK]
                response = self.client.fetch(chunk, items)
                for uid in chunk:
                    data = response.get(uid)
                    if data is None:
                        continue  # expunged between SEARCH and FETCH
                    raw = next(
                        (value for key, value in data.items() if key.startswith(b"BODY[HEADER")),
                        b"",
                    )
                    messages.append(
                        FetchedHeaders(
                            uid=uid,
                            raw_headers=bytes(raw),
                            gm_thread_id=_thread_id(data.get(_GMAIL_THREAD_ITEM)),
                        )
                    )
        except (TimeoutError, OSError, IMAPClientError, imaplib.IMAP4.abort) as error:
            raise TemporaryFailure(f"reading {folder} failed: {error}") from None
        return FolderBatch(
            folder=folder, uidvalidity=uidvalidity, messages=messages, passed_uid=passed_uid
        )

    def fetch_body(self, folder: str, uid: int) -> bytes:
        try:
            if self._selected != folder:
                self._examine(folder)
            response = self.client.fetch([uid], [b"BODY.PEEK[]"])
        except (TimeoutError, OSError, IMAPClientError, imaplib.IMAP4.abort) as error:
            raise TemporaryFailure(f"reading message {uid} in {folder} failed: {error}") from None
        data = response.get(uid, {})
        return bytes(data.get(b"BODY[]", b""))


def _uidnext(info: dict[bytes, object]) -> int:
    value = info.get(b"UIDNEXT", 0)
    return int(value) if isinstance(value, int | bytes | str) else 0


def _thread_id(value: object) -> int | None:
    """X-GM-THRID as a signed 64-bit number, the way the database keeps it.

    Gmail's ids are unsigned 64-bit numbers; the upper half (never seen in
    practice) wraps to negative numbers, so equal ids still compare equal.
    imapclient already parses the atom into an int.
    """
    if isinstance(value, bytes) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        return None
    return value - 2**64 if value >= 2**63 else value


def _shut(client: IMAPClient) -> None:
    """Close a connection that failed half-way (a TLS handshake may have taken its socket)."""
    try:
        client.shutdown()
    except OSError:
        pass  # nothing left open


def _text(error: Exception) -> str:
    return " ".join(str(error).replace("b'", "").replace("'", "").split())


class ImapSentFolder(ImapSource):
    """The one place Outreach writes to a mailbox: a copy of a sent message in Sent."""

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        try:
            self._examine(folder)
            found = self.client.search(["HEADER", "Message-ID", message_id])
        except (OSError, IMAPClientError, imaplib.IMAP4.abort) as error:
            raise TemporaryFailure(f"searching {folder} failed: {error}") from None
        return bool(found)

    def append(self, folder: str, raw: bytes) -> None:
        try:
            self.client.append(folder, raw, flags=(b"\\Seen",))
        except (OSError, IMAPClientError, imaplib.IMAP4.abort) as error:
            raise TemporaryFailure(f"saving a copy in {folder} failed: {error}") from None
