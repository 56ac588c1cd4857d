"""A worker's SMTP sessions: a burst through one mailbox logs in once, and a session is
reused only while it is fresh and has seen no error; one that fails before the body
gives the message to a new session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach.crypto import SecretBox
from outreach.mail.smtp_sessions import KeptSessionSender
from outreach.models import Contact, Message, MessageStatus
from outreach.sending import Outcome, deliver
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.proxy import HoldingProxy
from tests.servers.smtpd import RecordingSMTPServer


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def unpaced(session: Session, world: World) -> World:
    # Pace out of the way: these tests send bursts.
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0
    world.mailbox.daily_cap = 1000
    session.commit()
    return world


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(unpaced: World, clock: FakeClock) -> Iterator[KeptSessionSender]:
    kept = KeptSessionSender(unpaced.context, idle_limit=60, per_session=5, clock=clock)
    yield kept
    kept.close()


def send_all(
    factory: sessionmaker[Session],
    sender: KeptSessionSender,
    box: SecretBox,
    drafts: list[Message],
    now: datetime,
) -> list[Outcome]:
    return [deliver(factory, d.id, sender, box, lambda: now).outcome for d in drafts]


def test_a_burst_through_one_mailbox_logs_in_once(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    drafts = make_approved_requests(session, unpaced.user, now, count=4)

    outcomes = send_all(session_factory, sender, secret_box, drafts, now)

    assert outcomes == [Outcome.SENT] * 4
    received = smtp.wait_for(4)
    assert [m.message["Message-ID"] for m in received] == [d.message_id for d in drafts]
    assert smtp.logins == 1
    assert sender.open_sessions == 1
    statuses = session.scalars(select(Message.status).where(Message.id.in_([d.id for d in drafts])))
    assert set(statuses) == {MessageStatus.SENT}


def test_a_session_is_renewed_after_its_message_allowance(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    drafts = make_approved_requests(session, unpaced.user, now, count=7)

    assert send_all(session_factory, sender, secret_box, drafts, now) == [Outcome.SENT] * 7

    assert len(smtp.wait_for(7)) == 7
    assert smtp.logins == 2  # five on the first session, two on the next


def test_an_idle_session_is_closed_and_the_next_send_logs_in_again(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    clock: FakeClock,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    first, second = make_approved_requests(session, unpaced.user, now, count=2)
    send_all(session_factory, sender, secret_box, [first], now)
    assert sender.next_expiry() == 60

    clock.seconds += 30
    sender.close_idle()
    assert sender.open_sessions == 1  # not idle long enough yet
    clock.seconds += 30
    sender.close_idle()
    assert sender.open_sessions == 0
    assert sender.next_expiry() is None

    assert send_all(session_factory, sender, secret_box, [second], now) == [Outcome.SENT]
    assert smtp.logins == 2


def test_a_session_the_server_dropped_is_replaced_before_the_message_goes(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    proxy = HoldingProxy(smtp.port)
    try:
        unpaced.mailbox.smtp_port = proxy.port
        session.commit()
        first, second = make_approved_requests(session, unpaced.user, now, count=2)
        send_all(session_factory, sender, secret_box, [first], now)
        proxy.hang_up()

        outcome = send_all(session_factory, sender, secret_box, [second], now)
    finally:
        proxy.stop()

    assert outcome == [Outcome.SENT]
    assert smtp.logins == 2
    assert [m.message["Message-ID"] for m in smtp.wait_for(2)] == [
        first.message_id,
        second.message_id,
    ]


def test_a_temporary_refusal_on_a_kept_session_is_tried_once_on_a_new_one(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    first, second, third = make_approved_requests(session, unpaced.user, now, count=3)
    assert send_all(session_factory, sender, secret_box, [first], now) == [Outcome.SENT]

    # The kept session (and the new one after it) refuses the recipient for now.
    smtp.rcpt_reply = "451 4.3.0 Try again later"
    refused = send_all(session_factory, sender, secret_box, [second], now)
    smtp.rcpt_reply = None
    later = send_all(session_factory, sender, secret_box, [third], now)

    assert refused == [Outcome.RETRYING]
    assert later == [Outcome.SENT]
    # The refused message tried a new session once; a session that met an error is closed.
    assert smtp.logins == 3
    assert [m.message["Message-ID"] for m in smtp.wait_for(2)] == [
        first.message_id,
        third.message_id,
    ]


def test_a_session_that_met_an_error_is_not_reused(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    refused, accepted = make_approved_requests(session, unpaced.user, now, count=2)
    smtp.reply_code, smtp.reply_text = 451, "4.3.0 Try again later"
    assert send_all(session_factory, sender, secret_box, [refused], now) == [Outcome.RETRYING]
    assert sender.open_sessions == 0

    smtp.reset_reply()
    assert send_all(session_factory, sender, secret_box, [accepted], now) == [Outcome.SENT]
    assert smtp.logins == 2


def test_a_message_withheld_at_the_last_moment_leaves_the_session_for_the_next(
    session: Session,
    session_factory: sessionmaker[Session],
    unpaced: World,
    smtp: RecordingSMTPServer,
    sender: KeptSessionSender,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    """A message done for while the server took its envelope (here: marked do-not-contact)
    is called off with RSET; the session carries the next message without a new login."""
    first, second = make_approved_requests(session, unpaced.user, now, count=2)
    contact_id = first.contact_id

    class MarkedMeanwhile:
        def send(self, login: Any, message: Any, before_data: Any) -> None:
            def marked_then_before_data() -> None:
                with session_factory() as other:
                    other.execute(
                        update(Contact).where(Contact.id == contact_id).values(do_not_contact=True)
                    )
                    other.commit()
                before_data()

            sender.send(login, message, marked_then_before_data)

    withheld = deliver(session_factory, first.id, MarkedMeanwhile(), secret_box, lambda: now)
    following = deliver(session_factory, second.id, sender, secret_box, lambda: now)

    assert (withheld.outcome, following.outcome) == (Outcome.CANCELLED, Outcome.SENT)
    assert [m.message["Message-ID"] for m in smtp.wait_for(1)] == [second.message_id]
    assert smtp.logins == 1
    session.expire_all()
    cancelled = session.get(Message, first.id)
    assert cancelled is not None and cancelled.status is MessageStatus.CANCELLED
    assert cancelled.error is not None and "do-not-contact" in cancelled.error
