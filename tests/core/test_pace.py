"""The pace holds for the mailbox as a whole, across concurrent workers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts
from outreach.crypto import SecretBox
from outreach.mail.smtp import SmtpSender
from outreach.models import Message, MessageStatus, Outreach
from outreach.sending import DeliveryResult, Outcome, deliver, due_for_sending
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.smtpd import RecordingSMTPServer


def approved_requests(session: Session, world: World, now: datetime, count: int) -> list[Message]:
    return make_approved_requests(session, world.user, now, count)


def test_two_workers_at_once_send_one_message_and_respect_the_gap(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    first, second = approved_requests(session, world, now, 2)
    results: dict[int, DeliveryResult] = {}
    start = threading.Barrier(2)

    def worker(message_id: int) -> None:
        start.wait()
        sender = SmtpSender(world.context)
        results[message_id] = deliver(session_factory, message_id, sender, secret_box, lambda: now)

    threads = [threading.Thread(target=worker, args=(m.id,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    outcomes = sorted(result.outcome.value for result in results.values())
    assert outcomes == ["not_due", "sent"]
    assert len(smtp.wait_for(1)) == 1
    session.expire_all()
    waiting = next(m for m in (first, second) if results[m.id].outcome is Outcome.NOT_DUE)
    stored = session.get(Message, waiting.id)
    assert stored is not None and stored.status is MessageStatus.QUEUED
    assert stored.next_attempt_at is not None
    assert now + timedelta(seconds=1) <= stored.next_attempt_at <= now + timedelta(seconds=240)
    assert stored.waiting_reason


def test_daily_cap_holds_the_rest_until_tomorrow(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    world.mailbox.daily_cap = 2
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0
    session.commit()
    messages = approved_requests(session, world, now, 3)
    sender = SmtpSender(world.context)

    outcomes = [
        deliver(session_factory, m.id, sender, secret_box, lambda: now).outcome for m in messages
    ]

    assert outcomes == [Outcome.SENT, Outcome.SENT, Outcome.NOT_DUE]
    assert len(smtp.wait_for(2)) == 2
    session.expire_all()
    held = session.get(Message, messages[2].id)
    assert held is not None and "cap of 2" in (held.waiting_reason or "")
    assert held.next_attempt_at is not None and held.next_attempt_at.date() > now.date()
    assert messages[2].id not in due_for_sending(session, now + timedelta(hours=1))
    assert messages[2].id in due_for_sending(session, held.next_attempt_at)


def test_outside_the_window_waits_for_the_opening(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    world.mailbox.window_start_hour, world.mailbox.window_end_hour = 13, 17
    session.commit()
    (message,) = approved_requests(session, world, now, 1)

    result = deliver(
        session_factory, message.id, SmtpSender(world.context), secret_box, lambda: now
    )

    assert result.outcome is Outcome.NOT_DUE and "window" in result.detail
    assert smtp.messages == []
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored is not None and stored.next_attempt_at == now.replace(hour=13, minute=0)


def test_follow_ups_go_before_new_requests(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0
    session.commit()
    (earlier,) = approved_requests(session, world, now, 1)
    sender = SmtpSender(world.context)
    assert deliver(session_factory, earlier.id, sender, secret_box, lambda: now).outcome is (
        Outcome.SENT
    )
    later = now + timedelta(days=8)
    (request,) = approved_requests(session, world, later, 1)
    outreach = session.get(Outreach, earlier.outreach_id)
    assert outreach is not None
    session.refresh(outreach)
    follow_up = drafts.draft_follow_up(session, world.user, outreach, later)
    drafts.approve(session, world.user, follow_up.id, later)
    session.commit()

    assert due_for_sending(session, later) == [follow_up.id, request.id]
    first_try = deliver(session_factory, request.id, sender, secret_box, lambda: later)
    assert first_try.outcome is Outcome.NOT_DUE and "goes first" in first_try.detail
    assert deliver(session_factory, follow_up.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )
