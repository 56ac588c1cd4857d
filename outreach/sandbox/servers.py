"""The sandbox's mail servers, in one asyncio loop: SMTP (aiosmtpd) and IMAP (pymap).

- SMTP accepts mail from a sandbox mailbox (AUTH with its stored password) and
  never relays it. For each simulated contact among the recipients, the answer
  (outreach.sandbox.people) is scheduled after a random delay in the configured
  range, then APPENDed over IMAP into the sender's sandbox INBOX, as that user.
- IMAP is pymap's in-memory `dict` backend. Logins are checked against the
  Outreach database: only a sandbox mailbox (outreach-sandbox.invalid) with the
  password Outreach stored for it gets in. Each mailbox gets an INBOX and Sent.
- Every `tick` seconds the time warp (outreach.sandbox.timewarp) runs.

Answers waiting for their delay live in memory: stopping the sandbox drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import signal
from argparse import Namespace
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from imapclient import IMAPClient
from pymap.backend.dict import Config as DictConfig
from pymap.backend.dict import DictBackend
from pymap.backend.dict import Identity as DictIdentity
from pymap.backend.dict import Login as DictLogin
from pymap.backend.dict import Session as DictSession
from pymap.exceptions import AuthorizationFailure, InvalidAuth
from pymap.imap import IMAPService
from pymap.interfaces.login import IdentityInterface
from pymap.user import UserMetadata
from pysasl.creds.server import ServerCredentials
from pysasl.identity import ClearIdentity
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import clock
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker, session_scope
from outreach.models import Mailbox
from outreach.rules.sandbox_addresses import SANDBOX_LABEL, behaviour_of, is_sandbox
from outreach.sandbox.people import answer
from outreach.sandbox.timewarp import TimeWarp

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SENT_FOLDER = "Sent"

# username -> the password Outreach stored for that sandbox mailbox, or None.
PasswordLookup = Callable[[str], str | None]


def database_passwords(factory: sessionmaker[Session], box: SecretBox) -> PasswordLookup:
    """Look a login up in the Outreach database: sandbox mailboxes only."""

    def lookup(username: str) -> str | None:
        with session_scope(factory) as session:
            for mailbox in session.scalars(select(Mailbox).where(Mailbox.username == username)):
                if is_sandbox(mailbox):
                    return box.decrypt(mailbox.secret_encrypted)
        return None

    return lookup


@dataclass(frozen=True)
class SandboxConfig:
    smtp_port: int
    imap_port: int
    # Seconds before a simulated contact answers: a random value in [low, high].
    reply_delay: tuple[float, float] = (5.0, 45.0)
    # How long a business day lasts in the sandbox (outreach.sandbox.timewarp).
    day_seconds: float = 60.0
    # Seconds between two runs of the time warp.
    tick: float = 2.0


# --- IMAP: pymap's dict backend, logins checked against our database -----------------------


class _Identity(DictIdentity):
    """A sandbox user: their INBOX, plus a Sent folder for the worker's copies."""

    @asynccontextmanager
    async def new_session(self) -> AsyncIterator[DictSession]:
        async with super().new_session() as session:
            if (await session.mailbox_set.list_mailboxes()).get(SENT_FOLDER) is None:
                # Two logins at once may both get here; the second finds it made.
                with contextlib.suppress(ValueError):
                    await session.mailbox_set.add_mailbox(SENT_FOLDER)
            yield session


class _Login(DictLogin):
    def __init__(self, config: DictConfig, lookup: PasswordLookup) -> None:
        super().__init__(config)
        self._lookup = lookup

    async def authenticate(self, credentials: ServerCredentials) -> _Identity:
        name = credentials.authcid
        password = await asyncio.to_thread(self._lookup, name)
        if password is None or not credentials.verify(ClearIdentity(name, password)):
            await asyncio.sleep(self.config.invalid_user_sleep)
            raise InvalidAuth()
        if name not in self.users_dict:
            self.users_dict[name] = UserMetadata(self.config, name)
        return _Identity(name, self, None, frozenset())

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> _Identity:
        if authzid != authenticated.name:
            raise AuthorizationFailure()
        return _Identity(authzid, self, None, frozenset())


def _imap_backend(port: int, lookup: PasswordLookup) -> tuple[DictBackend, DictConfig]:
    # What pymap's command line would have parsed; only these are read.
    args = Namespace(debug=False, passlib_cfg=None, proxy_protocol=None, inherited_sockets=None)
    config = DictConfig(
        args,
        host=HOST,
        port=port,
        tls_enabled=False,
        demo_data=False,
        demo_user="",
        demo_password="",
        invalid_user_sleep=0.3,
        reject_dnsbl=False,
    )
    return DictBackend(_Login(config, lookup), config), config


# --- SMTP: accept, never relay, schedule the simulated answers ------------------------------


class _DropLoginDataWarning(logging.Filter):
    # aiosmtpd assigns its own deprecated Session.login_data after every successful AUTH
    # and logs a warning about it: noise about aiosmtpd, not about anything to fix here.
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


class _Authenticator:
    def __init__(self, lookup: PasswordLookup) -> None:
        self._lookup = lookup

    def __call__(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        # aiosmtpd calls this synchronously: one indexed lookup, a few milliseconds, once
        # per message the worker sends; the loop can afford it.
        if isinstance(data, LoginPassword):
            login = data.login.decode("utf-8", "replace")
            stored = self._lookup(login)
            given = data.password.decode("utf-8", "replace")
            if stored is not None and hmac.compare_digest(stored.encode(), given.encode()):
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


class _Handler:
    def __init__(self, sandbox: SandboxServers) -> None:
        self._sandbox = sandbox

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        if session.auth_data is None:
            return "530 5.7.0 Authentication required"
        login = session.auth_data.login.decode("utf-8", "replace")
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        for recipient in envelope.rcpt_tos:
            self._sandbox.plan_answer(login, raw, recipient)
        return "250 2.0.0 Accepted by the sandbox (nothing is delivered for real)"


_LOGIN_DATA_FILTER = _DropLoginDataWarning()


# --- the whole sandbox ------------------------------------------------------------------------


class SandboxServers:
    """Both servers and the time warp; `run` serves until SIGINT or SIGTERM."""

    def __init__(
        self,
        config: SandboxConfig,
        lookup: PasswordLookup,
        clock: Callable[[], datetime],
        factory: sessionmaker[Session] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.lookup = lookup
        self.clock = clock
        self.factory = factory
        self.rng = rng or random.Random()
        self.warp = TimeWarp(config.day_seconds)
        self._tasks: set[asyncio.Task[None]] = set()

    def say(self, text: str) -> None:
        print(f"[sandbox] {text}", flush=True)

    def plan_answer(self, login: str, raw: bytes, recipient: str) -> None:
        if behaviour_of(recipient) is None:
            self.say(f"{recipient} is no sandbox contact: nothing is delivered to them")
            return
        reply = answer(raw, recipient, self.clock(), self.rng)
        if reply is None:
            self.say(f"{recipient} received a message and stays silent")
            return
        low, high = self.config.reply_delay
        delay = self.rng.uniform(low, high)
        self.say(f"{recipient} ({reply.behaviour}) answers in {delay:.0f} s")
        task = asyncio.get_running_loop().create_task(
            self._deliver_later(delay, login, reply.raw, recipient)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_later(self, delay: float, login: str, raw: bytes, recipient: str) -> None:
        await asyncio.sleep(delay)
        try:
            await asyncio.to_thread(self.append, login, "INBOX", raw)
        except Exception as error:  # noqa: BLE001 - one lost answer must not stop the sandbox
            self.say(f"could not deliver {recipient}'s answer to {login}: {error}")
        else:
            self.say(f"delivered {recipient}'s answer to {login}")

    def append(self, login: str, folder: str, raw: bytes) -> None:
        """Put `raw` into `login`'s `folder` with IMAP APPEND, as that user."""
        password = self.lookup(login)
        if password is None:
            raise RuntimeError(f"{login} is no sandbox mailbox any more")
        with IMAPClient(HOST, port=self.config.imap_port, ssl=False, timeout=10) as client:
            client.login(login, password)
            client.append(folder, raw)
            client.logout()

    def _warp_once(self) -> list[str]:
        if self.factory is None:
            return []
        with session_scope(self.factory) as session:
            return self.warp.step(session, self.clock())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick)
            try:
                lines = await asyncio.to_thread(self._warp_once)
            except Exception as error:  # noqa: BLE001 - the database may be briefly away
                self.say(f"the time warp could not run: {error}")
                continue
            for line in lines:
                self.say(line)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Both servers listening on 127.0.0.1 while the block runs."""
        loop = asyncio.get_running_loop()
        logging.getLogger("mail.log").addFilter(_LOGIN_DATA_FILTER)
        async with AsyncExitStack() as stack:
            backend, imap_config = _imap_backend(self.config.imap_port, self.lookup)
            imap_config.apply_context()
            await IMAPService(backend, imap_config).start(stack)
            handler = _Handler(self)
            authenticator = _Authenticator(self.lookup)
            smtp = await loop.create_server(
                lambda: SMTP(
                    handler,
                    hostname="sandbox.outreach-sandbox.invalid",
                    authenticator=authenticator,
                    auth_require_tls=False,
                    auth_exclude_mechanism=["CRAM-MD5"],
                ),
                host=HOST,
                port=self.config.smtp_port,
            )
            stack.push_async_callback(smtp.wait_closed)
            stack.callback(smtp.close)
            tick = loop.create_task(self._tick())
            stack.callback(tick.cancel)
            try:
                yield
            finally:
                for task in list(self._tasks):
                    task.cancel()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with self.serving():
            low, high = self.config.reply_delay
            self.say(
                f"{SANDBOX_LABEL}. SMTP on {HOST}:{self.config.smtp_port}, "
                f"IMAP on {HOST}:{self.config.imap_port}; contacts answer after "
                f"{low:g} to {high:g} s; a business day lasts {self.config.day_seconds:g} s"
            )
            await stop.wait()
            self.say("stopping")
        with contextlib.suppress(NotImplementedError):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def config_from(settings: Settings) -> SandboxConfig:
    return SandboxConfig(
        smtp_port=settings.sandbox_smtp_port,
        imap_port=settings.sandbox_imap_port,
        reply_delay=settings.sandbox_reply_delay,
        day_seconds=settings.sandbox_day_seconds,
        # Often enough that a compressed day is not stretched by much.
        tick=min(2.0, max(0.2, settings.sandbox_day_seconds / 10)),
    )


def serve(settings: Settings) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM.

    :raise OSError: when a port is taken (another sandbox runs, or another program).
    """
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        box = SecretBox(settings.encryption_keys)
        servers = SandboxServers(
            config_from(settings), database_passwords(factory, box), clock.now, factory
        )
        asyncio.run(servers.run())
    finally:
        engine.dispose()
