"""`outreach poller`: the long-running process that watches every connected mailbox.

Contract: one round polls each mailbox once, each in its own transaction. A
failing mailbox is logged once per kind of failure and retried next round; it
never stops the others. SIGTERM or SIGINT lets the current mailbox finish,
then the process exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker
from outreach.mail.tls import client_context
from outreach.polling import mailboxes_to_watch, poll_mailbox

log = logging.getLogger("outreach.poller")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def run(settings: Settings, once: bool = False) -> None:
    factory = make_sessionmaker(make_engine(settings.database_url))
    box = SecretBox(settings.encryption_keys)
    context = client_context(settings.ca_file)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the current mailbox (signal %s)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    last_problem: dict[int, str] = {}
    log.info("poller started; checking every %.0f s", settings.poll_interval)
    while not stop.is_set():
        for mailbox_id in mailboxes_to_watch(factory):
            if stop.is_set():
                break
            result = poll_mailbox(factory, mailbox_id, box, context, _utcnow)
            if result.ok:
                if mailbox_id in last_problem:
                    log.info("mailbox %s is reachable again", mailbox_id)
                    del last_problem[mailbox_id]
                if result.report and result.report.matched:
                    log.info("mailbox %s: %s new answers", mailbox_id, result.report.matched)
            elif last_problem.get(mailbox_id) != result.problem:
                # Logged once per change, so a long outage does not flood the log.
                log.warning("mailbox %s: %s", mailbox_id, result.problem)
                last_problem[mailbox_id] = result.problem
        if once:
            break
        stop.wait(settings.poll_interval)
