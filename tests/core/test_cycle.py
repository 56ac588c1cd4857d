"""The cycle through its use cases, on SQLite and PostgreSQL.

Messages are marked sent with `record_sent` (what the worker does after SMTP
said yes); answers arrive through the real poller path, from Dovecot.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, target_actions, targets
from outreach.board import status_board
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.models import (
    Contact,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    User,
)
from outreach.polling import poll_mailbox
from outreach.rules.states import OutreachState
from outreach.scheduler import run_due_steps
from outreach.sending import record_sent
from tests.conftest import World
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def day(n: int, hour: int = 9) -> datetime:
    """MONDAY plus n calendar days, at `hour` UTC."""
    return (MONDAY + timedelta(days=n)).replace(hour=hour)


@pytest.fixture
def user(session: Session, secret_box: SecretBox) -> User:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    session.commit()
    return user


def people(session: Session, user: User, *organisations: str) -> list[Contact]:
    return [
        make_contact(session, user, organisation=organisation, name=f"Person {index}")
        for index, organisation in enumerate(organisations, start=1)
    ]


def start(
    session: Session, user: User, contacts: Sequence[Contact], now: datetime, **settings: object
) -> tuple[Target, list[Message]]:
    target = targets.create_target(
        session,
        user,
        f"Target {contacts[0].id}",
        [c.id for c in contacts],
        **settings,  # type: ignore[arg-type]
    )
    return target, targets.fill_pipeline(session, user, target, now)


def send(session: Session, user: User, message: Message, now: datetime) -> None:
    """Approve if needed, and record the send as the worker does."""
    if message.status is MessageStatus.DRAFT:
        drafts.approve(session, user, message.id, now)
    record_sent(session, message.id, now)
    session.flush()


def outreach_of(session: Session, contact: Contact) -> Outreach:
    found = session.scalar(
        select(Outreach)
        .where(Outreach.contact_id == contact.id)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


def messages_to(session: Session, contact: Contact, kind: MessageKind) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.contact_id == contact.id, Message.kind == kind)
            .order_by(Message.id)
            .execution_options(populate_existing=True)
        )
    )


def test_no_reply_one_follow_up_in_the_thread_then_the_next_name(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)
    assert outreach_of(session, ada).next_step_at == day(7)  # five business days

    assert run_due_steps(session, day(6, 23)) == []
    lines = run_due_steps(session, day(7))
    assert lines == [f"follow-up drafted for {ada.name} ({target.name})"]
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    assert follow_up.status is MessageStatus.DRAFT
    assert follow_up.in_reply_to == request.message_id
    assert follow_up.subject == f"Re: {request.subject}"
    # Twice at the same moment, or a little later: still one follow-up.
    assert run_due_steps(session, day(7)) == []
    assert run_due_steps(session, day(8)) == []
    assert len(messages_to(session, ada, MessageKind.FOLLOW_UP)) == 1

    send(session, user, follow_up, day(8))
    outreach = outreach_of(session, ada)
    assert outreach.state is OutreachState.FOLLOWED_UP
    assert outreach.next_step_at == day(15)  # five business days after the follow-up
    assert messages_to(session, ben, MessageKind.REQUEST) == []

    lines = run_due_steps(session, day(15))
    assert lines == [
        f"{ada.name}: no reply ({target.name})",
        f"request drafted for {ben.name} ({target.name})",
    ]
    assert outreach_of(session, ada).state is OutreachState.NO_REPLY
    assert outreach_of(session, ada).next_step_at is None
    assert outreach_of(session, ben).state is OutreachState.DRAFTED
    assert run_due_steps(session, day(15)) == []


def test_without_a_follow_up_the_cycle_moves_on_after_the_wait(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    _target, [request] = start(
        session, user, [ada, ben], MONDAY, send_follow_up=False, wait_business_days=3
    )
    send(session, user, request, MONDAY)
    run_due_steps(session, day(3))
    assert messages_to(session, ada, MessageKind.FOLLOW_UP) == []
    assert outreach_of(session, ada).state is OutreachState.NO_REPLY
    assert outreach_of(session, ben).state is OutreachState.DRAFTED


def test_a_follow_up_never_approved_is_cancelled_when_the_cycle_moves_on(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    _target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)
    run_due_steps(session, day(7))
    run_due_steps(session, day(14))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    assert follow_up.status is MessageStatus.CANCELLED
    assert outreach_of(session, ada).state is OutreachState.NO_REPLY
    assert outreach_of(session, ben).state is OutreachState.DRAFTED


def test_a_discarded_follow_up_is_not_written_again(session: Session, user: User) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    _target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)
    run_due_steps(session, day(7))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    target_actions.discard(session, user, follow_up.id, day(7))
    (row,) = [r for r in status_board(session, user, day(8)) if r.contact_id == ada.id]
    assert row.detail == "waiting, day 5 of 5; gives up on Mon 14 Dec"
    assert run_due_steps(session, day(13)) == []
    run_due_steps(session, day(14))
    assert len(messages_to(session, ada, MessageKind.FOLLOW_UP)) == 1
    assert outreach_of(session, ada).state is OutreachState.NO_REPLY
    assert outreach_of(session, ben).state is OutreachState.DRAFTED


def test_an_approved_follow_up_still_in_the_outbox_is_not_given_up_on(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    _target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)
    run_due_steps(session, day(7))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    drafts.approve(session, user, follow_up.id, day(7))
    run_due_steps(session, day(14))
    assert outreach_of(session, ada).state is OutreachState.WAITING
    assert outreach_of(session, ada).next_step_at == day(15)
    assert follow_up.status is MessageStatus.APPROVED


def test_holidays_and_the_time_zone_move_the_follow_up(session: Session, user: User) -> None:
    user.time_zone = "America/New_York"
    user.holidays = "2026-12-03\n2026-12-04  # a long weekend\n"
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    _target, [request] = start(session, user, [ada, ben], MONDAY, wait_business_days=3)
    # 02:00 UTC on Tuesday is still Monday evening in New York.
    sent = day(1, 2)
    send(session, user, request, sent)
    # Tue 1, Wed 2, (Thu 3, Fri 4 off), (weekend), Mon 7: due Monday 21:00 New York time.
    assert outreach_of(session, ada).next_step_at == day(8, 2)


def test_auto_approval_approves_the_request_and_the_follow_up(session: Session, user: User) -> None:
    user.auto_approve = "request follow_up"
    (ada,) = people(session, user, "Archive")
    _target, [request] = start(session, user, [ada], MONDAY)
    assert request.status is MessageStatus.APPROVED
    record_sent(session, request.id, MONDAY)
    run_due_steps(session, day(7))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    assert follow_up.status is MessageStatus.APPROVED
    assert follow_up.message_id is not None


def test_a_paused_list_keeps_its_clocks_and_catches_up_on_resume(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)
    targets.pause_target(session, user, target, day(1))
    assert run_due_steps(session, day(10)) == []
    assert messages_to(session, ada, MessageKind.FOLLOW_UP) == []
    assert outreach_of(session, ada).next_step_at == day(7)
    assert "list paused" in [row.detail for row in status_board(session, user, day(10))]

    drafted = target_actions.resume_target(session, user, target, day(10))
    assert [message.kind for message in drafted] == [MessageKind.FOLLOW_UP]
    assert not target.paused
    assert run_due_steps(session, day(10)) == []


def test_one_person_per_organisation_and_never_a_do_not_contact_address(
    session: Session, user: User
) -> None:
    ada, ben, cleo, dan = people(session, user, "Acme", "ACME", "Blue Harbour", "Ocean Trust")
    cleo.do_not_contact = True
    target, drafted = start(session, user, [ada, ben, cleo, dan], MONDAY, max_in_flight=3)
    assert {message.contact_id for message in drafted} == {ada.id, dan.id}
    assert outreach_of(session, ben).state is OutreachState.PLANNED  # waits its turn
    assert outreach_of(session, cleo).state is OutreachState.PLANNED
    assert targets.fill_pipeline(session, user, target, MONDAY) == []

    targets.update_target_settings(
        session,
        user,
        target,
        max_in_flight=3,
        wait_business_days=5,
        send_follow_up=True,
        give_up_business_days=5,
        allow_same_organisation=True,
    )
    (again,) = targets.fill_pipeline(session, user, target, MONDAY)
    assert again.contact_id == ben.id
    with pytest.raises(ValidationError, match="do-not-contact"):
        drafts.draft_request(session, user, outreach_of(session, cleo), MONDAY)


def test_never_more_than_two_messages_to_one_person(session: Session, user: User) -> None:
    (ada,) = people(session, user, "Archive")
    _target, [request] = start(session, user, [ada], MONDAY)
    send(session, user, request, MONDAY)
    follow_up = drafts.draft_follow_up(session, user, outreach_of(session, ada), day(7))
    follow_up.status = MessageStatus.FAILED  # not delivered, but it was written
    session.flush()
    outreach = outreach_of(session, ada)
    with pytest.raises(ValidationError):
        drafts.draft_follow_up(session, user, outreach, day(8))
    outreach.state = OutreachState.PLANNED  # even if the list were started again
    with pytest.raises(ValidationError, match="2 messages in this cycle"):
        drafts.draft_request(session, user, outreach, day(8))


def test_move_remove_and_the_settings_checks(session: Session, user: User) -> None:
    ada, ben, cleo = people(session, user, "Archive", "Botanic Garden", "Cartography")
    target, [request] = start(session, user, [ada, ben, cleo], MONDAY)
    targets.move_entry(session, user, target, cleo.id, 1)
    order = [o.contact_id for o in targets.outreaches_in_order(session, target)]
    assert order == [cleo.id, ada.id, ben.id]
    with pytest.raises(ValidationError, match="between 1 and 3"):
        targets.move_entry(session, user, target, cleo.id, 4)

    target_actions.remove_from_target(session, user, target, ben.id, MONDAY)
    order = [o.contact_id for o in targets.outreaches_in_order(session, target)]
    assert order == [cleo.id, ada.id]

    # Ada's request is in progress: stopping her cancels it, and Cleo is next.
    target_actions.remove_from_target(session, user, target, ada.id, day(1))
    assert outreach_of(session, ada).state is OutreachState.STOPPED
    assert request.status is MessageStatus.CANCELLED
    assert outreach_of(session, cleo).state is OutreachState.DRAFTED
    with pytest.raises(ValidationError, match="nothing left to stop"):
        target_actions.remove_from_target(session, user, target, ada.id, day(1))
    with pytest.raises(NotFound):
        target_actions.remove_from_target(session, user, target, ben.id, day(1))

    for wrong in (
        {"max_in_flight": 0},
        {"wait_business_days": 0},
        {"give_up_business_days": 31},
    ):
        settings: dict[str, object] = {
            "max_in_flight": 1,
            "wait_business_days": 5,
            "send_follow_up": True,
            "give_up_business_days": 5,
            "allow_same_organisation": False,
            **wrong,
        }
        with pytest.raises(ValidationError):
            targets.update_target_settings(session, user, target, **settings)  # type: ignore[arg-type]

    stranger = make_user(session)
    with pytest.raises(NotFound):
        targets.pause_target(session, stranger, target, MONDAY)


def test_when_the_list_runs_out_it_says_so_and_suggests_referrals_first(
    session: Session, user: User
) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    target, [request] = start(session, user, [ada], MONDAY)
    referral = make_contact(session, user, name="Rosa Referred", organisation="Map Library")
    referral.referred_by_id = ada.id
    session.flush()

    summary = targets.target_summary(session, target)
    assert (summary.in_flight, summary.planned, summary.done) == (1, 0, 0)
    assert summary.list_exhausted
    assert summary.suggestion.startswith("No names are left after the ones in progress")
    assert f"Rosa Referred (suggested by {ada.name})" in summary.suggestion
    assert [r.contact_id for r in summary.referrals] == [referral.id]

    targets.add_to_target(session, user, target, ben.id)
    summary = targets.target_summary(session, target)
    assert not summary.list_exhausted and summary.suggestion == ""

    send(session, user, request, MONDAY)
    targets.add_to_target(session, user, target, referral.id)
    target_actions.remove_from_target(session, user, target, ben.id, MONDAY)
    target_actions.remove_from_target(session, user, target, referral.id, MONDAY)
    target_actions.remove_from_target(session, user, target, ada.id, MONDAY)
    summary = targets.target_summary(session, target)
    assert summary.done == 1 and summary.list_exhausted
    assert summary.suggestion.startswith("Every name on this list has been tried")


def test_the_board_says_what_happens_next_and_when(session: Session, user: User) -> None:
    user.time_zone = "Europe/London"
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    target, [request] = start(session, user, [ada, ben], MONDAY)
    send(session, user, request, MONDAY)

    def detail(contact: Contact, now: datetime) -> str:
        (row,) = [r for r in status_board(session, user, now) if r.contact_id == contact.id]
        return row.detail

    assert detail(ada, MONDAY) == "waiting, sent today; follow-up on Mon 7 Dec"
    assert detail(ada, day(3)) == "waiting, day 3 of 5; follow-up on Mon 7 Dec"
    assert detail(ben, day(3)) == "waits its turn on the list"
    run_due_steps(session, day(7))
    assert detail(ada, day(7)) == "follow-up waiting for your approval"
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    send(session, user, follow_up, day(8))
    assert detail(ada, day(8)) == "followed up; gives up on Tue 15 Dec"
    outreach = outreach_of(session, ada)
    outreach.away_until = day(11).date()
    assert detail(ada, day(9)) == "away until Fri 11 Dec; clock paused"
    outreach.away_until = None
    outreach.handled_by_user = True
    assert detail(ada, day(9)) == "you are handling this yourself"
    outreach.handled_by_user = False
    targets.pause_target(session, user, target, day(9))
    assert detail(ada, day(9)) == "list paused"
    assert detail(ben, day(9)) == "list paused"


def test_two_schedulers_at_once_draft_one_follow_up(
    session: Session, session_factory: sessionmaker[Session], user: User
) -> None:
    contacts = people(session, user, "Archive", "Botanic Garden", "Cartography", "Dairy")
    target, requests = start(session, user, contacts, MONDAY, max_in_flight=4)
    for request in requests:
        send(session, user, request, MONDAY)
    session.commit()
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        try:
            with session_factory() as own:
                barrier.wait()
                results.append(run_due_steps(own, day(7)))
                own.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(len(lines) for lines in results) == 4
    count = session.scalar(
        select(func.count()).select_from(Message).where(Message.kind == MessageKind.FOLLOW_UP)
    )
    assert count == 4  # one per person, never two
    assert run_due_steps(session, day(7)) == []
    assert target.paused is False


def test_two_processes_filling_one_list_at_once_draft_one_request(
    session: Session, session_factory: sessionmaker[Session], user: User
) -> None:
    contacts = people(session, user, "Archive", "Botanic Garden", "Cartography")
    target = targets.create_target(session, user, "Maps", [c.id for c in contacts])
    session.commit()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            with session_factory() as own:
                mine = own.get(Target, target.id)
                owner = own.get(User, user.id)
                assert mine is not None and owner is not None
                barrier.wait()
                targets.fill_pipeline(own, owner, mine, MONDAY)
                own.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=fill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    requests = session.scalar(
        select(func.count()).select_from(Message).where(Message.kind == MessageKind.REQUEST)
    )
    assert requests == 1


# --- answers, through the poller -------------------------------------------------------------


def answer(request: Message, sender: str, body: str, **headers: str) -> bytes:
    values = {
        "From": f"Someone <{sender}>",
        "To": request.from_address,
        "Subject": f"Re: {request.subject}",
        "Message-ID": f"<answer-{request.id}-{len(headers)}@org.example>",
        "In-Reply-To": request.message_id or "",
        "References": request.message_id or "",
        "Date": "Mon, 30 Nov 2026 10:00:00 +0000",
        **headers,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in values.items())
    return (head + "\r\n" + body + "\r\n").encode()


def hard_bounce(request: Message, recipient: str, account: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.org.example\r\n"
        f"To: {account}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{request.id}@mx.org.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe address does not exist.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\n--B--\r\n"
    ).encode()


def poll(
    session_factory: sessionmaker[Session], world: World, box: SecretBox, now: datetime
) -> None:
    result = poll_mailbox(session_factory, world.mailbox.id, box, world.context, lambda: now)
    assert result.ok, result.problem


def sent_list(
    session: Session, world: World, *emails: str, **settings: object
) -> tuple[Target, list[Contact], Message]:
    contacts = [
        make_contact(session, world.user, email=email, organisation=f"Org {index}")
        for index, email in enumerate(emails)
    ]
    target, [request] = start(session, world.user, contacts, MONDAY, **settings)
    send(session, world.user, request, MONDAY)
    session.commit()
    return target, contacts, request


def test_a_reply_stops_everything_for_that_person(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
) -> None:
    target, [ada, ben], request = sent_list(session, world, "ada@org.example", "ben@org.example")
    run_due_steps(session, day(7))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    drafts.approve(session, world.user, follow_up.id, day(7))
    session.commit()

    dovecot.deliver(answer(request, "ada@org.example", "Happy to talk!"), world.account.user)
    poll(session_factory, world, secret_box, day(7, 10))

    session.expire_all()
    assert outreach_of(session, ada).state is OutreachState.REPLIED
    assert outreach_of(session, ada).next_step_at is None
    assert follow_up.status is MessageStatus.CANCELLED
    details = list(session.scalars(select(Event.detail).where(Event.message_id == follow_up.id)))
    assert "cancelled: they replied, so nothing automatic goes to them" in details
    # Nothing more goes to Ada; her answer frees the place, so the next name is up.
    assert run_due_steps(session, day(30)) == [f"request drafted for {ben.name} ({target.name})"]
    assert len(messages_to(session, ada, MessageKind.FOLLOW_UP)) == 1
    assert outreach_of(session, ada).state is OutreachState.REPLIED


def test_a_decline_and_a_bounce_move_to_the_next_name_at_once(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
) -> None:
    _t1, [kai, lea], declined = sent_list(session, world, "kai@org.example", "lea@org.example")
    _t2, [max_, nia], bounced = sent_list(session, world, "max@org.example", "nia@org.example")
    dovecot.deliver(
        answer(declined, "kai@org.example", "Sorry, now is not a good time for me."),
        world.account.user,
    )
    dovecot.deliver(
        hard_bounce(bounced, "max@org.example", world.account.user),
        world.account.user,
        sender="",
    )

    poll(session_factory, world, secret_box, day(1))

    session.expire_all()
    assert outreach_of(session, kai).state is OutreachState.DECLINED
    assert outreach_of(session, lea).state is OutreachState.DRAFTED
    assert outreach_of(session, max_).state is OutreachState.BOUNCED
    assert outreach_of(session, nia).state is OutreachState.DRAFTED


def test_an_out_of_office_holds_the_clock_until_a_business_day_after_the_return(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
) -> None:
    t1, [away, _], dated = sent_list(session, world, "away@org.example", "next1@org.example")
    t2, [vague, _], undated = sent_list(session, world, "vague@org.example", "next2@org.example")
    dovecot.deliver(
        answer(
            dated,
            "away@org.example",
            "I am out of the office until Friday 11 December 2026 with no access to email.",
            **{"Auto-Submitted": "auto-replied", "Subject": "Automatic reply: hello"},
        ),
        world.account.user,
    )
    dovecot.deliver(
        answer(
            undated,
            "vague@org.example",
            "I am away and will answer when I can.",
            **{"Auto-Submitted": "auto-replied", "Subject": "Out of Office: hello"},
        ),
        world.account.user,
    )

    poll(session_factory, world, secret_box, day(1))

    session.expire_all()
    waiting = outreach_of(session, away)
    assert waiting.away_until == day(11).date()
    assert waiting.next_step_at == day(14)  # Monday 14 December, the request's time of day
    assert outreach_of(session, vague).next_step_at == day(8)  # five business days from Tue
    assert run_due_steps(session, day(7)) == []  # when both were due before the notes
    assert run_due_steps(session, day(8)) == [f"follow-up drafted for {vague.name} ({t2.name})"]
    assert run_due_steps(session, day(13)) == []
    assert messages_to(session, away, MessageKind.FOLLOW_UP) == []
    assert run_due_steps(session, day(14)) == [f"follow-up drafted for {away.name} ({t1.name})"]
