"""Send over the user's SMTP server with aiosmtplib, in words the core understands."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage

import aiosmtplib

from outreach.errors import MailboxAuthFailed, PermanentFailure, TemporaryFailure
from outreach.mail import ServerLogin
from outreach.models.accounts import TlsMode

# Waiting long for the answer to the final dot is deliberate: giving up early
# would leave us not knowing whether the message went out.
DATA_TIMEOUT = 300.0
CONNECT_TIMEOUT = 30.0


def _client(login: ServerLogin, context: ssl.SSLContext) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=login.host,
        port=login.port,
        use_tls=login.tls is TlsMode.SSL,
        start_tls=True if login.tls is TlsMode.STARTTLS else False,
        tls_context=context,
        timeout=CONNECT_TIMEOUT,
    )


async def _close(client: aiosmtplib.SMTP) -> None:
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


def _failure_from_response(error: aiosmtplib.SMTPResponseException) -> Exception:
    text = f"{error.code} {error.message}"
    if 400 <= error.code < 500:
        return TemporaryFailure(f"the mail server asked to try again later ({text})")
    return PermanentFailure(
        f"the mail server refused the message ({text})", code=error.code, server_text=text
    )


async def _send(login: ServerLogin, message: EmailMessage, context: ssl.SSLContext) -> None:
    client = _client(login, context)
    try:
        await client.connect()
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as error:
        raise TemporaryFailure(f"could not connect to {login.host}:{login.port}: {error}") from None
    try:
        try:
            await client.login(login.username, login.password)
        except aiosmtplib.SMTPAuthenticationError as error:
            raise MailboxAuthFailed(
                f"the SMTP server refused the user name or password ({error.code} {error.message})"
            ) from None
        try:
            await client.send_message(message, timeout=DATA_TIMEOUT)
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = error.recipients[0] if error.recipients else None
            if refused is not None:
                raise _failure_from_response(refused) from None
            raise PermanentFailure("the mail server refused every recipient") from None
        except aiosmtplib.SMTPResponseException as error:
            raise _failure_from_response(error) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as error:
            raise TemporaryFailure(f"the connection to the mail server broke: {error}") from None
    finally:
        await _close(client)


class SmtpSender:
    """The MailSender used in production: one SMTP session per message."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def send(self, login: ServerLogin, message: EmailMessage) -> None:
        asyncio.run(_send(login, message, self._context))

    def check_login(self, login: ServerLogin) -> None:
        """Connect and log in, then leave; raises like `send`."""
        asyncio.run(self._check(login))

    async def _check(self, login: ServerLogin) -> None:
        client = _client(login, self._context)
        try:
            await client.connect()
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as error:
            raise TemporaryFailure(
                f"could not connect to {login.host}:{login.port}: {error}"
            ) from None
        try:
            await client.login(login.username, login.password)
        except aiosmtplib.SMTPAuthenticationError as error:
            raise MailboxAuthFailed(
                f"the SMTP server refused the user name or password ({error.code} {error.message})"
            ) from None
        except aiosmtplib.SMTPException as error:
            raise TemporaryFailure(f"the SMTP server did not accept the login: {error}") from None
        finally:
            await _close(client)
