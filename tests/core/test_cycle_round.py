"""A round of the cycle over many users at once writes what taking each list alone writes.

The scheduler takes a round's due steps together (one set of queries for every user);
here the same world is stepped once as a whole round and once a list at a time, and
the drafts, timeline lines, clocks and printed lines must be the same. The users differ
where a mix-up would show: time zones, their own templates, auto-approval, a paused
list, a do-not-contact name, a discarded follow-up, a name never to be asked again.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import target_actions, targets
from outreach.accounts import auto_approve_words
from outreach.crypto import SecretBox
from outreach.meetings.due_steps import run_due as run_meeting_steps
from outreach.models import Event, Message, MessageKind, MessageStatus, Outreach, Target, User
from outreach.rules import cycle
from outreach.rules.states import Trigger
from outreach.scheduler import fill_every_target, run_due_steps, take_due_steps
from outreach.template_library import save_template
from outreach.transitions import transition
from tests.core.test_cycle import MONDAY, day, people, send, start
from tests.factories import make_contact, make_mailbox, make_user


@dataclass
class Mix:
    london: User
    seattle: User
    tokyo: User


def build_mix(session: Session, box: SecretBox) -> Mix:
    """Three users, their lists, and every request sent on MONDAY."""
    london = make_user(session, name="Lou London")
    london.time_zone = "Europe/London"
    seattle = make_user(session, name="Sid Seattle")
    seattle.time_zone = "America/Los_Angeles"
    seattle.auto_approve = auto_approve_words([MessageKind.FOLLOW_UP])
    tokyo = make_user(session, name="Tomo Tokyo")
    tokyo.time_zone = "Asia/Tokyo"
    for user in (london, seattle, tokyo):
        make_mailbox(session, user, box)
    save_template(
        session,
        seattle,
        MessageKind.FOLLOW_UP,
        "unused",
        "Hello {{ first_name }}, a gentle nudge about {{ field }}.\n\n{{ my_signature }}",
    )

    referrer = make_contact(session, london, name="Rita Referrer")
    ada, ben, cy = people(session, london, "Archive", "Botanic Garden", "Cartography")
    ada.referred_by_id = referrer.id
    _, requests = start(session, london, [ada, ben, cy], MONDAY, max_in_flight=2)
    for request in requests:
        send(session, london, request, MONDAY)
    ben.do_not_contact = True  # after the request: no follow-up, so the list moves on

    dee, eve, fay = people(session, seattle, "Dairy", "Estuary", "Forestry")
    _, requests = start(session, seattle, [dee, eve, fay], MONDAY, max_in_flight=3)
    for request in requests:
        send(session, seattle, request, MONDAY)

    gus, hal = people(session, tokyo, "Geology", "Harbour")
    paused, requests = start(session, tokyo, [gus, hal], MONDAY, max_in_flight=2)
    for request in requests:
        send(session, tokyo, request, MONDAY)
    targets.pause_target(session, tokyo, paused, MONDAY)
    # Ivy declined on a list of her own: the next name after Jo is Kit, never Ivy.
    ivy, jo, kit = people(session, tokyo, "Ink", "Jetty", "Kiln")
    first, [asked] = start(session, tokyo, [ivy], MONDAY)
    send(session, tokyo, asked, MONDAY)
    declined = targets.entry_and_outreach(session, tokyo, first, ivy.id)[1]
    transition(session, declined, Trigger.DECLINE_RECEIVED, MONDAY, "they declined")
    _, [request] = start(session, tokyo, [jo, ivy, kit], MONDAY)
    send(session, tokyo, request, MONDAY)
    session.commit()
    return Mix(london, seattle, tokyo)


def snapshot(session: Session, since_message: int, since_event: int) -> dict[str, Any]:
    """What a round wrote, without the ids that depend on the order of writing."""
    session.flush()
    written = list(
        session.scalars(select(Message).where(Message.id > since_message).order_by(Message.id))
    )
    about = {m.id: (m.contact_id, m.kind) for m in written}
    messages = sorted(
        (
            m.user_id,
            m.contact_id,
            m.outreach_id,
            m.kind,
            m.status,
            m.to_address,
            m.from_address,
            m.subject,
            m.body_text,
            m.needs,
            m.error,
            m.in_reply_to,
            m.references,
        )
        for m in written
    )
    events = sorted(
        (e.user_id, e.contact_id, e.outreach_id, e.kind, e.detail, about.get(e.message_id or 0))
        for e in session.scalars(select(Event).where(Event.id > since_event))
    )
    clocks = [
        (o.id, o.state, o.next_step_at, o.handled_by_user)
        for o in session.scalars(
            select(Outreach).order_by(Outreach.id).execution_options(populate_existing=True)
        )
    ]
    # Older messages the round changed (a follow-up cancelled on giving up).
    statuses = list(
        session.execute(
            select(Message.id, Message.status)
            .where(Message.id <= since_message)
            .order_by(Message.id)
            .execution_options(populate_existing=True)
        )
    )
    return {"messages": messages, "events": events, "clocks": clocks, "statuses": statuses}


def one_list_at_a_time(session: Session, now: datetime) -> list[str]:
    """run_due_steps, but the clock steps taken for one target after another."""
    due = session.execute(
        select(Outreach.target_id, func.min(Outreach.next_step_at))
        .join(Target, Target.id == Outreach.target_id)
        .where(Outreach.state.in_(cycle.CLOCKED), Outreach.next_step_at <= now)
        .group_by(Outreach.target_id)
        .order_by(func.min(Outreach.next_step_at), Outreach.target_id)
    ).all()
    lines: list[str] = []
    for target_id, _first in due:
        lines.extend(take_due_steps(session, now, target_id=target_id).lines)
    lines.extend(fill_every_target(session, now).lines)
    lines.extend(run_meeting_steps(session, now))
    return lines


def same_either_way(session: Session, now: datetime) -> list[str]:
    """Step the world at `now` as a round and a list at a time; both must write the
    same. The round's writes are kept (committed); returns its lines."""
    since_message = session.scalar(select(func.max(Message.id))) or 0
    since_event = session.scalar(select(func.max(Event.id))) or 0
    alone = sorted(one_list_at_a_time(session, now))
    expected = snapshot(session, since_message, since_event)
    session.rollback()
    lines = run_due_steps(session, now)
    assert sorted(lines) == alone
    assert snapshot(session, since_message, since_event) == expected
    session.commit()
    return lines


def test_a_round_over_many_users_writes_what_each_list_alone_writes(
    session: Session, secret_box: SecretBox
) -> None:
    mix = build_mix(session, secret_box)

    # Day 8: every waiting request is due a follow-up (all zones are past five business days).
    first = same_either_way(session, day(8))
    assert len([line for line in first if line.startswith("follow-up drafted")]) == 5
    assert any("no reply" in line for line in first)  # the do-not-contact name
    assert any(line.startswith("request drafted") for line in first)  # and the next one
    follow_ups = list(
        session.scalars(
            select(Message).where(Message.kind == MessageKind.FOLLOW_UP).order_by(Message.id)
        )
    )
    by_user: dict[int, list[Message]] = {}
    for message in follow_ups:
        by_user.setdefault(message.user_id, []).append(message)
    seattle = by_user[mix.seattle.id]
    assert [m.status for m in seattle] == [MessageStatus.APPROVED] * 3
    assert all("a gentle nudge about" in m.body_text for m in seattle)
    (london,) = by_user[mix.london.id]
    assert london.status is MessageStatus.DRAFT and "gentle nudge" not in london.body_text
    assert len(by_user[mix.tokyo.id]) == 1  # Jo's; the paused list's two wait

    # Then one follow-up is sent, one discarded, one stays approved in the outbox, and
    # London's and Tokyo's are never approved: the next round gives up on four, looks
    # again later at one, and drafts the next names (Kit, never Ivy, who declined).
    send(session, mix.seattle, seattle[0], day(9))
    target_actions.discard(session, mix.seattle, seattle[1].id, day(9))
    session.commit()

    later = same_either_way(session, day(17))
    assert len([line for line in later if "no reply" in line]) == 4
    assert len([line for line in later if "still in the outbox" in line]) == 1
    assert any(line.startswith("request drafted for Person 3") for line in later)  # Kit
    assert same_either_way(session, day(17)) == []
