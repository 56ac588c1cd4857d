"""An SMTP sender for a long-lived process: one session per mailbox, kept between sends.

Connecting, STARTTLS and AUTH cost more than the mail transaction itself (on
loopback, 6 ms against 1.5 ms; over a real network, several round trips each), and
a burst of approved messages mostly goes through one mailbox. So the session of
the last send is kept, and the next send through the same login reuses it:

- only while it is fresh: a session idle longer than `idle_limit` is closed (by
  `close_idle`, which the worker calls while it waits for jobs, or at the next
  send), well before servers drop idle clients (RFC 5321 asks them to wait 5 min);
- without a check of its own: a kept session the server has closed meanwhile, or
  that refuses more mail, fails at MAIL or RCPT, before the body; the message then
  goes through a new session (no RSET per message: over a real network that was a
  round trip a message);
- for at most `per_session` messages, under the per-connection limits some
  providers set;
- never after an error of any kind: the session is closed, and the next send
  opens a new one;
- never for an OAuth2 login: each send logs in, so a withdrawn grant stops the
  very next message (the poller's kept IMAP connection never logs in again).

Exactly-once is untouched: each message is still one MAIL/RCPT/DATA
transaction with `before_data` committed before its body goes out.
The event loop is the sender's own and lives as long as it does, since a
session belongs to the loop that opened it; it runs only inside `send` and
`close_idle`, in the caller's thread.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from outreach.errors import SendWithheld, TemporaryFailure
from outreach.mail import ServerLogin
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy
from outreach.mail.smtp import SmtpSender, close_session, open_session, transact
from outreach.models.accounts import TlsMode

# Longer than a burst's gaps between messages, far shorter than servers' idle limits.
IDLE_LIMIT = 60.0
# Some providers refuse more messages per connection (Exchange Online's default is 30
# per minute and connection; others close after 100): a new session before that.
PER_SESSION = 25
# A polite QUIT to a session being let go; a server gone silent does not hold us longer.
QUIT_TIMEOUT = 5.0

_Key = tuple[str, int, TlsMode, str]


@dataclass
class _Kept:
    client: aiosmtplib.SMTP
    login: ServerLogin
    last_used: float
    sent: int


class KeptSessionSender(SmtpSender):
    """The MailSender of a worker process: `send` reuses the mailbox's open session."""

    def __init__(
        self,
        context: ssl.SSLContext,
        policy: AddressPolicy = ANY_ADDRESS,
        idle_limit: float = IDLE_LIMIT,
        per_session: int = PER_SESSION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(context, policy)
        # Seconds a session may stay unused and still be reused.
        self.idle_limit = idle_limit
        self._per_session = per_session
        self._clock = clock
        self._kept: dict[_Key, _Kept] = {}
        self._loop = asyncio.new_event_loop()

    @property
    def open_sessions(self) -> int:
        return len(self._kept)

    def send(
        self, login: ServerLogin, message: EmailMessage, before_data: Callable[[], None]
    ) -> None:
        self._run(self._send_kept(login, message, before_data))

    def next_expiry(self) -> float | None:
        """Seconds until the oldest kept session goes idle for too long; None when none is kept."""
        if not self._kept:
            return None
        oldest = min(kept.last_used for kept in self._kept.values())
        return max(0.0, oldest + self.idle_limit - self._clock())

    def close_idle(self) -> None:
        """Close the sessions idle for longer than the limit."""
        now = self._clock()
        for key, kept in list(self._kept.items()):
            if now - kept.last_used >= self.idle_limit:
                del self._kept[key]
                self._run(self._quit(kept.client))

    def close(self) -> None:
        """Close every kept session, and the loop (the sender is not used afterwards)."""
        kept, self._kept = list(self._kept.values()), {}
        for session in kept:
            self._run(self._quit(session.client))
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        if _loop_running_here():
            # A caller inside someone else's event loop (a test driving a browser, an
            # async host) cannot run ours in its thread: a short-lived thread runs it.
            _in_own_thread(lambda: self._run(work))
            return
        task = self._loop.create_task(work)
        try:
            self._loop.run_until_complete(task)
        except BaseException:
            # A job's time limit (a signal) can interrupt the loop mid-send: the send is
            # abandoned, never resumed by a later run of the loop.
            if not task.done():
                task.cancel()
                try:
                    self._loop.run_until_complete(task)
                except BaseException:  # noqa: BLE001 - the first error is the one to report
                    pass
            raise

    async def _send_kept(
        self, login: ServerLogin, message: EmailMessage, before_data: Callable[[], None]
    ) -> None:
        key = (login.host, login.port, login.tls, login.username)
        kept = self._kept.pop(key, None)
        if kept is not None and not self._reusable(kept, login):
            await self._quit(kept.client)
            kept = None
        if kept is not None:
            body_started: list[bool] = []

            def marked_before_data() -> None:
                body_started.append(True)
                before_data()

            try:
                await self._transact(kept, message, marked_before_data)
                return
            except TemporaryFailure:
                # The kept session failed before the body went out (the server closed
                # it, or refuses more on it): nothing was sent, so a new session tries.
                if body_started:
                    raise
        client = await open_session(login, self._context, self._policy)
        await self._transact(_Kept(client, login, self._clock(), 0), message, before_data)

    async def _transact(
        self, kept: _Kept, message: EmailMessage, before_data: Callable[[], None]
    ) -> None:
        try:
            await transact(kept.client, message, before_data)
        except SendWithheld:
            # Reset, not broken: the session carries the next message.
            if kept.client.is_connected:
                self._keep(kept)
            raise
        except Exception:
            await self._quit(kept.client)
            raise
        except BaseException:
            kept.client.close()
            raise
        kept.sent += 1
        self._keep(kept)

    def _keep(self, kept: _Kept) -> None:
        kept.last_used = self._clock()
        login = kept.login
        self._kept[(login.host, login.port, login.tls, login.username)] = kept

    def _reusable(self, kept: _Kept, login: ServerLogin) -> bool:
        if kept.login != login:
            return False  # a new password or access token: log in with it
        if login.access_token:
            # An OAuth2 grant can be withdrawn while its access token is cached; only a
            # login tells (and marks the mailbox NEEDS_SIGN_IN), so no mail goes out
            # on a session opened before the person took Outreach's access away.
            return False
        if kept.sent >= self._per_session or self._clock() - kept.last_used >= self.idle_limit:
            return False
        return kept.client.is_connected

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            await asyncio.wait_for(close_session(client), QUIT_TIMEOUT)
        except (TimeoutError, OSError, aiosmtplib.SMTPException):
            client.close()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_own_thread(call: Callable[[], None]) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="smtp-session")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
