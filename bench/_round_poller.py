"""The poller as it was before kept connections (issue 17), kept as a benchmark baseline.

Every round logs in to every mailbox anew, one after another (workers.poller._round,
which `outreach poller --once` still runs); each mailbox also has an IDLE
connection whose news wakes a whole round; between rounds it sleeps
min(OUTREACH_POLL_INTERVAL, OUTREACH_POLL_LEASE / 3). Run as a process:

    python bench/_round_poller.py   (the OUTREACH_* environment as for `outreach poller`)
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from outreach import clock  # noqa: E402
from outreach.config import Settings  # noqa: E402
from outreach.crypto import SecretBox  # noqa: E402
from outreach.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from outreach.errors import OutreachError  # noqa: E402
from outreach.mail.imap import ImapSource  # noqa: E402
from outreach.mail.tls import client_context  # noqa: E402
from outreach.mailbox_login import MailboxLogin  # noqa: E402
from outreach.models import Mailbox  # noqa: E402
from workers.poller import _round  # noqa: E402


def _watch(login: MailboxLogin, context: object, wake: threading.Event, stop: threading.Event):  # type: ignore[no-untyped-def]
    """The old IdleWatcher: one IDLE connection per mailbox; news wakes the whole poller."""
    failures = 0
    while not stop.is_set():
        try:
            with ImapSource(login.server, context) as source:  # type: ignore[arg-type]
                if not source.offers_idle():
                    return
                failures = 0
                wake.set()
                while not stop.is_set():
                    if source.wait_for_mail(300.0):
                        wake.set()
        except OutreachError:
            failures += 1
            stop.wait(min(60.0, 2.0**failures))


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env(dict(os.environ))
    factory = make_sessionmaker(make_engine(settings.database_url))
    box = SecretBox(settings.encryption_keys)
    context = client_context(settings.ca_file)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=settings.poll_lease)
    stop = threading.Event()
    wake = threading.Event()
    watching: set[int] = set()
    last_problem: dict[int, str] = {}
    backoffs: dict = {}  # type: ignore[type-arg]

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, _stop)
    while not stop.is_set():
        wake.clear()
        mine = _round(factory, box, context, None, owner, lease, stop, last_problem, backoffs)
        for mailbox_id in mine - watching:
            with session_scope(factory) as session:
                row = session.get(Mailbox, mailbox_id)
                assert row is not None
                login = MailboxLogin.imap(row, box)
            threading.Thread(target=_watch, args=(login, context, wake, stop), daemon=True).start()
            watching.add(mailbox_id)
        wake.wait(min(settings.poll_interval, settings.poll_lease / 3))
    logging.getLogger("baseline").info("stopped at %s", clock.now())
    time.sleep(0.1)


if __name__ == "__main__":
    main()
