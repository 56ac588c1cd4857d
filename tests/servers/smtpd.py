"""An in-process SMTP server (STARTTLS + AUTH required) that records what it accepts."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .net import LOOPBACK, free_port
from .tls import TlsFiles

DEFAULT_USERS: Mapping[str, str] = {"student@example.test": "smtp-secret"}
DEFAULT_REPLY_CODE = 250
DEFAULT_REPLY_TEXT = "Message accepted for delivery"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server saw it: envelope, exact bytes, parsed form, who logged in."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    auth_user: str | None


class _DropLoginDataWarning(logging.Filter):
    # aiosmtpd itself assigns the deprecated Session.login_data after every successful AUTH
    # and logs a warning about it; that is noise about aiosmtpd, not about the code under test.
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_login_data_filter = _DropLoginDataWarning()


class _Authenticator:
    def __init__(self, users: dict[str, str], on_login: Callable[[], None]) -> None:
        self.users = users
        self.on_login = on_login

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if login in self.users and self.users[login] == password:
                self.on_login()
                # Passing auth_data= (not the legacy login_data) avoids aiosmtpd's deprecation.
                return AuthResult(success=True, auth_data=auth_data)
        # handled=False lets aiosmtpd send its standard "535 5.7.8 Authentication credentials
        # invalid", which is what clients map to SMTPAuthenticationError.
        return AuthResult(success=False, handled=False)


class RecordingSMTPServer:
    """aiosmtpd on a free loopback port; STARTTLS and AUTH PLAIN/LOGIN are both mandatory."""

    def __init__(
        self,
        tls: TlsFiles,
        users: Mapping[str, str] | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.tls = tls
        self.host = host
        self.port = 0
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        # Set these to make DATA fail, e.g. 550 "5.1.1 No such user" or 451 "4.3.0 Try later".
        self.reply_code = DEFAULT_REPLY_CODE
        self.reply_text = DEFAULT_REPLY_TEXT
        # Refuse every RCPT with this reply, e.g. "550 5.1.1 No such user here".
        self.rcpt_reply: str | None = None
        # After recording a message: wait this long before answering the final dot,
        # or hang up without answering at all (the client cannot tell what happened).
        self.hold_after_data = 0.0
        self.drop_after_data = False
        # Called with each accepted message, e.g. to file it in Sent as Gmail does.
        self.on_message: Callable[[ReceivedMessage], None] | None = None
        # Successful logins: one per SMTP session.
        self.logins = 0
        self._accepted: list[ReceivedMessage] = []
        self._rejected: list[ReceivedMessage] = []
        # The controller's thread appends while test threads read and wait.
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen on a fresh free port (a stopped Controller cannot be restarted)."""
        if self._controller is not None:
            raise RuntimeError("SMTP server is already running")
        logging.getLogger("mail.log").addFilter(_login_data_filter)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls.cert_pem, self.tls.key_pem)
        self.port = free_port()
        controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",
            tls_context=context,
            require_starttls=True,
            authenticator=_Authenticator(self.users, self._count_login),
            auth_required=True,
            auth_require_tls=True,
        )
        controller.start()
        self._controller = controller

    def _count_login(self) -> None:
        with self._changed:
            self.logins += 1

    def stop(self) -> None:
        """Stop the server thread; safe to call twice."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset_reply(self) -> None:
        """Go back to accepting every message, at once."""
        self.reply_code = DEFAULT_REPLY_CODE
        self.reply_text = DEFAULT_REPLY_TEXT
        self.rcpt_reply = None
        self.hold_after_data = 0.0
        self.drop_after_data = False
        self.on_message = None

    def clear(self) -> None:
        """Forget every recorded message, accepted or rejected."""
        with self._changed:
            self._accepted.clear()
            self._rejected.clear()
            self.logins = 0

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A copy of the accepted messages, oldest first."""
        with self._changed:
            return list(self._accepted)

    @property
    def rejected(self) -> list[ReceivedMessage]:
        """A copy of the messages refused at DATA because of a reply_code override."""
        with self._changed:
            return list(self._rejected)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least count messages were accepted; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._accepted) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [(m.mail_from, m.rcpt_tos, m.message["Subject"]) for m in self._accepted]
                    raise AssertionError(
                        f"SMTP server got {len(self._accepted)} message(s) within {timeout} s, "
                        f"expected at least {count}; accepted (from, to, subject): {got}; "
                        f"rejected: {len(self._rejected)}"
                    )
                self._changed.wait(remaining)
            return list(self._accepted)

    # aiosmtpd handler hooks, called on the controller's event-loop thread.
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        auth_data = session.auth_data
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            message=message_from_bytes(raw, policy=policy.default),
            auth_user=(
                auth_data.login.decode("utf-8", "replace")
                if isinstance(auth_data, LoginPassword)
                else None
            ),
        )
        code, text = self.reply_code, self.reply_text
        with self._changed:
            (self._accepted if 200 <= code < 300 else self._rejected).append(received)
            self._changed.notify_all()
        if self.on_message is not None and 200 <= code < 300:
            await asyncio.get_running_loop().run_in_executor(None, self.on_message, received)
        if self.hold_after_data:
            await asyncio.sleep(self.hold_after_data)
        if self.drop_after_data:
            server.transport.close()
        return f"{code} {text}"


def start_smtp_server(tls: TlsFiles, users: Mapping[str, str] | None = None) -> RecordingSMTPServer:
    """Start a RecordingSMTPServer and return it running."""
    server = RecordingSMTPServer(tls, users)
    server.start()
    return server


class OAuthSMTPServer(RecordingSMTPServer):
    """A RecordingSMTPServer that also offers AUTH XOAUTH2, like Gmail and Outlook.

    A token is accepted only when the authorization server's introspection
    endpoint (RFC 7662, asked over HTTP with the resource servers' credentials)
    says it is active and belongs to the user named in the XOAUTH2 string. A
    refused token is answered as Gmail does: 334 with a base64 JSON error, then,
    after the client's empty line, 535. The accepted message's auth_user is
    that user. PLAIN/LOGIN work for `users`, as on RecordingSMTPServer.
    """

    def __init__(
        self,
        tls: TlsFiles,
        introspect_url: str,
        client_id: str,
        client_secret: str,
        users: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(tls, users if users is not None else {})
        self.introspect_url = introspect_url
        self.client_id = client_id
        self.client_secret = client_secret
        # How many AUTH XOAUTH2 attempts were refused, for tests of the retry.
        self.refused_tokens = 0

    def _introspect(self, token: str) -> dict[str, Any]:
        response = httpx.post(
            self.introspect_url,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(self.client_id, self.client_secret),
            timeout=10,
        )
        answer = response.json() if response.status_code == 200 else {}
        return answer if isinstance(answer, dict) else {}

    # aiosmtpd finds auth_<MECHANISM> methods on the handler and advertises them.
    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) == 2:
            blob = args[1]
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(answer).decode()
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8")
            fields = dict(part.split("=", 1) for part in text.split("\x01") if part)
            user = fields["user"]
            scheme, token = fields["auth"].split(" ", 1)
        except (ValueError, KeyError, binascii.Error, UnicodeDecodeError):
            await server.push("501 5.5.2 Cannot decode the XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, self._introspect, token)
        username = str(answer.get("username") or "").lower()
        if scheme == "Bearer" and answer.get("active") is True and username == user.lower():
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        self.refused_tokens += 1
        error = json.dumps(
            {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        )
        await server.challenge_auth(error)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


def start_oauth_smtp_server(
    tls: TlsFiles, introspect_url: str, client_id: str, client_secret: str
) -> OAuthSMTPServer:
    """Start an OAuthSMTPServer and return it running."""
    server = OAuthSMTPServer(tls, introspect_url, client_id, client_secret)
    server.start()
    return server
