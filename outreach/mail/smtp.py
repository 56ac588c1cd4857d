"""Send over the user's SMTP server with aiosmtplib, in words the core understands.

The SMTP transaction is driven step by step so that we know which side of the
final dot a failure happened on: before it, nothing was delivered and a retry
is safe; after it, the server may have the message (DeliveryUnknown).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses

import aiosmtplib

from outreach.errors import (
    DeliveryUnknown,
    MailboxAuthFailed,
    PermanentFailure,
    SendWithheld,
    TemporaryFailure,
)
from outreach.mail import ServerLogin, refuse_in_login, xoauth2_string
from outreach.mail.problems import connection_problem, in_time
from outreach.mail.reach import (
    ANY_ADDRESS,
    AddressPolicy,
    Deadline,
    NotAMailServer,
    connect_checked,
)
from outreach.models.accounts import TlsMode
from outreach.rules.compose import wire_bytes

# Waiting long for the answer to the final dot is deliberate: giving up early
# would leave us not knowing whether the message went out.
DATA_TIMEOUT = 300.0
COMMAND_TIMEOUT = 60.0
CONNECT_TIMEOUT = 30.0

_BROKEN = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError)


def _client(
    login: ServerLogin, context: ssl.SSLContext, timeout: float = CONNECT_TIMEOUT
) -> aiosmtplib.SMTP:
    # No port: the socket is connected by outreach.mail.reach, to a checked address;
    # the host name is kept for TLS (SNI and the certificate check).
    return aiosmtplib.SMTP(
        hostname=login.host,
        use_tls=login.tls is TlsMode.SSL,
        start_tls=True if login.tls is TlsMode.STARTTLS else False,
        tls_context=context,
        timeout=timeout,
    )


async def close_session(client: aiosmtplib.SMTP) -> None:
    """QUIT, then wait until the socket is really closed.

    Closing a TLS connection finishes asynchronously; if the event loop ended
    first, the socket would be left to the garbage collector (a leaked file
    descriptor and a ResourceWarning).
    """
    if not client.is_connected:
        return
    sock = client.get_transport_info("socket")
    try:
        await client.quit()
    except aiosmtplib.SMTPException:
        # The message is already accepted or refused; a failing QUIT changes nothing.
        client.close()
    if sock is None:
        return
    for _ in range(2000):
        if sock.fileno() == -1:
            return
        await asyncio.sleep(0.001)


def _failure(error: aiosmtplib.SMTPResponseException) -> Exception:
    text = f"{error.code} {error.message}"
    if 400 <= error.code < 500:
        return TemporaryFailure(f"the mail server asked to try again later ({text})")
    return PermanentFailure(
        f"the mail server refused the message ({text})", code=error.code, server_text=text
    )


async def _connect_and_login(
    client: aiosmtplib.SMTP, login: ServerLogin, policy: AddressPolicy, deadline: Deadline
) -> None:
    refuse_in_login(login)
    try:
        # Blocking, but bounded by the deadline, and this loop serves this one session only.
        sock = connect_checked(login.host, login.port, deadline, policy, CONNECT_TIMEOUT)
        await client.connect(sock=sock)
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as error:
        raise TemporaryFailure(connection_problem(login.host, login.port, error)) from None
    except aiosmtplib.SMTPResponseException as error:
        if error.code == aiosmtplib.SMTPStatus.invalid_response:
            # No SMTP greeting: another service's banner, never repeated.
            raise NotAMailServer(login.host, login.port) from None
        raise _failure(error) from None
    try:
        if login.uses_oauth:
            await _xoauth2(client, login)
        else:
            await client.login(login.username, login.password, timeout=COMMAND_TIMEOUT)
    except aiosmtplib.SMTPAuthenticationError as error:
        what = "the sign-in (access token)" if login.uses_oauth else "the user name or password"
        raise MailboxAuthFailed(
            f"the SMTP server refused {what} ({error.code} {error.message})"
        ) from None
    except aiosmtplib.SMTPResponseException as error:
        raise _failure(error) from None
    except (aiosmtplib.SMTPException, *_BROKEN) as error:
        raise TemporaryFailure(f"logging in to the SMTP server failed: {error}") from None


async def _xoauth2(client: aiosmtplib.SMTP, login: ServerLogin) -> None:
    """AUTH XOAUTH2 with the initial response on the command line, as Gmail and Outlook take it.

    A refused token is answered with 334 and a base64 JSON error; the client
    sends an empty line and the server then gives its final 535.
    """
    if client.is_ehlo_or_helo_needed:
        await client.ehlo(timeout=COMMAND_TIMEOUT)
    if not client.supports_extension("auth") or "xoauth2" not in client.server_auth_methods:
        raise aiosmtplib.SMTPAuthenticationError(
            504, "the server does not offer AUTH XOAUTH2, so it cannot take an access token"
        )
    initial = base64.b64encode(xoauth2_string(login.username, login.access_token).encode())
    response = await client.execute_command(b"AUTH", b"XOAUTH2", initial, timeout=COMMAND_TIMEOUT)
    if response.code == 334:
        response = await client.execute_command(b"", timeout=COMMAND_TIMEOUT)
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    sender = getaddresses([str(message["From"])])[0][1]
    recipients = [
        address
        for header in ("To", "Cc", "Bcc")
        for _name, address in getaddresses(message.get_all(header, []))
        if address
    ]
    return sender, recipients


async def transact(
    client: aiosmtplib.SMTP, message: EmailMessage, before_data: Callable[[], None]
) -> None:
    """One mail transaction (MAIL, RCPT, DATA) on a logged-in session, raising in the
    core's words; the session is ready for the next transaction when it returns."""
    sender, recipients = _envelope(message)
    try:
        await client.mail(sender, timeout=COMMAND_TIMEOUT)
        for recipient in recipients:
            await client.rcpt(recipient, timeout=COMMAND_TIMEOUT)
    except aiosmtplib.SMTPResponseException as error:
        raise _failure(error) from None
    except (aiosmtplib.SMTPException, *_BROKEN) as error:
        raise TemporaryFailure(f"the connection to the mail server broke: {error}") from None
    try:
        before_data()
    except SendWithheld:
        try:
            await client.rset(timeout=COMMAND_TIMEOUT)
        except (aiosmtplib.SMTPException, *_BROKEN):
            client.close()  # the next send opens a new session
        raise
    try:
        await client.data(wire_bytes(message), timeout=DATA_TIMEOUT)
    except aiosmtplib.SMTPResponseException as error:
        # The server answered, and the answer was no: nothing was delivered.
        raise _failure(error) from None
    except (aiosmtplib.SMTPException, *_BROKEN) as error:
        raise DeliveryUnknown(
            f"the connection broke after the message was handed over ({error}); "
            "it may or may not have been delivered"
        ) from None


async def open_session(
    login: ServerLogin, context: ssl.SSLContext, policy: AddressPolicy
) -> aiosmtplib.SMTP:
    """A connected, logged-in SMTP session; raises like `SmtpSender.send`."""
    client = _client(login, context)
    try:
        await _connect_and_login(client, login, policy, Deadline.after(CONNECT_TIMEOUT))
    except BaseException:
        await close_session(client)
        raise
    return client


async def _send(
    login: ServerLogin,
    message: EmailMessage,
    context: ssl.SSLContext,
    policy: AddressPolicy,
    before_data: Callable[[], None],
) -> None:
    client = await open_session(login, context, policy)
    try:
        await transact(client, message, before_data)
    finally:
        await close_session(client)


class SmtpSender:
    """The MailSender used in production: one SMTP session per message, at addresses
    `policy` allows."""

    def __init__(self, context: ssl.SSLContext, policy: AddressPolicy = ANY_ADDRESS) -> None:
        self._context = context
        self._policy = policy

    def send(
        self, login: ServerLogin, message: EmailMessage, before_data: Callable[[], None]
    ) -> None:
        asyncio.run(_send(login, message, self._context, self._policy, before_data))

    def check_login(self, login: ServerLogin, deadline: Deadline | None = None) -> None:
        """Connect and log in, then leave, all by `deadline`; raises like `send`."""
        asyncio.run(self._check(login, deadline or Deadline.after(CONNECT_TIMEOUT)))

    async def _check(self, login: ServerLogin, deadline: Deadline) -> None:
        client = _client(login, self._context, deadline.timeout(CONNECT_TIMEOUT))
        try:
            await asyncio.wait_for(
                _connect_and_login(client, login, self._policy, deadline), deadline.left()
            )
        except TimeoutError:
            # The whole exchange ran out of time, however slowly the server dripped.
            client.close()
            raise TemporaryFailure(in_time(login.host, login.port)) from None
        finally:
            await close_session(client)
