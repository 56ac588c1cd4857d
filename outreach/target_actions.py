"""What the user does to a target's list, with everything that follows.

Each action that frees a place or adds names drafts the next requests itself,
and returns the drafts it wrote, so the dashboard and the CLI make one call and
can say "2 requests drafted". The building blocks, which draft nothing, are in
outreach.targets (create_target, add_to_target, update_target_settings) and
outreach.meetings.notes (add_referral).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from outreach.asking_again import refusal_for
from outreach.drafts import get_message
from outreach.errors import ValidationError
from outreach.meetings.notes import Referral, ReferralResult, add_referral
from outreach.models import Message, MessageStatus, Outreach, Target, User
from outreach.rules.cycle import zone_of
from outreach.rules.states import OutreachState, Trigger, can_apply
from outreach.scheduler import take_due_steps
from outreach.targets import (
    add_to_target,
    create_target,
    entry_and_outreach,
    fill_pipeline,
    get_target,
    set_paused,
    update_target_settings,
)
from outreach.timeline import note_about, note_message
from outreach.transitions import transition


def start_target(
    session: Session,
    user: User,
    name: str,
    contact_ids: Sequence[int],
    now: datetime,
    *,
    max_in_flight: int = 1,
    wait_business_days: int = 5,
    send_follow_up: bool = True,
    give_up_business_days: int = 5,
    allow_same_organisation: bool = False,
    field_phrase: str = "",
) -> tuple[Target, list[Message]]:
    """Create a target holding these contacts, in order, and draft its first requests.

    :raise ValidationError: for a missing or taken name, or settings out of range.
    """
    target = create_target(
        session,
        user,
        name,
        contact_ids,
        max_in_flight=max_in_flight,
        wait_business_days=wait_business_days,
        send_follow_up=send_follow_up,
        give_up_business_days=give_up_business_days,
        allow_same_organisation=allow_same_organisation,
        field_phrase=field_phrase,
    )
    return target, fill_pipeline(session, user, target, now)


def add_names(
    session: Session, user: User, target: Target, contact_ids: Sequence[int], now: datetime
) -> list[Message]:
    """Append contacts to the end of the list; a free place drafts the next request at once.

    :raise ValidationError: when one of them is already on the list.
    """
    for contact_id in contact_ids:
        add_to_target(session, user, target, contact_id)
    return fill_pipeline(session, user, target, now)


def change_settings(
    session: Session,
    user: User,
    target: Target,
    now: datetime,
    *,
    max_in_flight: int,
    wait_business_days: int,
    send_follow_up: bool,
    give_up_business_days: int,
    allow_same_organisation: bool,
) -> list[Message]:
    """Change how the target's cycle runs; a place the change frees is filled at once.

    :raise ValidationError: when a setting is out of range.
    """
    update_target_settings(
        session,
        user,
        target,
        max_in_flight=max_in_flight,
        wait_business_days=wait_business_days,
        send_follow_up=send_follow_up,
        give_up_business_days=give_up_business_days,
        allow_same_organisation=allow_same_organisation,
    )
    return fill_pipeline(session, user, target, now)


def resume_target(session: Session, user: User, target: Target, now: datetime) -> list[Message]:
    """Start the target's cycle again: steps that fell due meanwhile are taken now,
    and free places get their next requests. Returns the drafts written.
    """
    set_paused(session, user, target, False, now)
    drafted = take_due_steps(session, now, target_id=target.id).drafts
    return drafted + fill_pipeline(session, user, target, now)


def remove_from_target(
    session: Session, user: User, target: Target, contact_id: int, now: datetime
) -> list[Message]:
    """Take a name off the list; returns the requests drafted into the freed place.

    A name not yet written to is removed. One in progress is stopped: its unsent
    drafts are cancelled, it stays on the list with its history, and its place
    goes to the next name. A person who answered cannot be removed: their
    conversation is in your hands already.

    :raise NotFound: when the contact is not on this list.
    :raise ValidationError: when the person already answered or the outreach is over.
    """
    entry, outreach = entry_and_outreach(session, user, target, contact_id)
    name = outreach.contact.name
    if outreach.state is OutreachState.PLANNED:
        session.delete(outreach)
        session.delete(entry)
        session.flush()
        return []
    if not can_apply(outreach.state, Trigger.STOPPED_BY_USER):
        raise ValidationError(
            f"{name} is '{outreach.state.value.replace('_', ' ')}' on this list; "
            "there is nothing left to stop"
        )
    return transition(
        session,
        outreach,
        Trigger.STOPPED_BY_USER,
        now,
        f"taken off the list “{target.name}” by you",
    ).drafted


def discard(session: Session, user: User, message_id: int, now: datetime) -> list[Message]:
    """Reject a draft. A rejected request takes its contact off the target, and the
    next name is drafted into the place: returns those drafts.

    :raise NotFound: when the message is not the user's.
    :raise ValidationError: when it is no longer a draft or an approved message.
    """
    message = get_message(session, user, message_id)
    if message.status not in {MessageStatus.DRAFT, MessageStatus.APPROVED}:
        raise ValidationError(f"this message is {message.status.value} and cannot be discarded")
    message.status = MessageStatus.CANCELLED
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    if outreach is not None and outreach.state is OutreachState.DRAFTED:
        return transition(
            session,
            outreach,
            Trigger.STOPPED_BY_USER,
            now,
            "request discarded; taken off this target",
            message.id,
        ).drafted
    note_message(session, message, "discarded", "draft discarded", now)
    return []


def add_suggested_person(
    session: Session,
    user: User,
    meeting_id: int,
    referral: Referral,
    now: datetime,
    *,
    add_to_list: bool = True,
) -> ReferralResult:
    """meetings.notes.add_referral, and the person's request drafted at once when
    they join the list and a place is free (in the result's `drafted`).
    """
    result = add_referral(session, user, meeting_id, referral, now, add_to_list=add_to_list)
    if result.outreach is None:
        return result
    target = get_target(session, user, result.outreach.target_id)
    return replace(result, drafted=fill_pipeline(session, user, target, now))


def ask_again(
    session: Session, user: User, target: Target, contact_id: int, now: datetime
) -> list[Message]:
    """The user's deliberate choice to ask one held-back person again on this list.

    Recorded on the outreach and the timeline, with the reason it overrides; the
    request is drafted at once when a place is free (returned).

    :raise NotFound: when the contact is not on this list.
    :raise ValidationError: when nothing holds them back, or they are do-not-contact.
    """
    _entry, outreach = entry_and_outreach(session, user, target, contact_id)
    name = outreach.contact.name
    refusal = refusal_for(session, outreach)
    if refusal is None or outreach.state is not OutreachState.PLANNED:
        raise ValidationError(f"nothing holds {name} back on this list")
    if not refusal.may_override:
        raise ValidationError(f"{name} is marked do-not-contact: they are never written to again")
    why = refusal.sentence(name, zone_of(user.time_zone), now)
    outreach.ask_again_at = now
    note_about(
        session,
        outreach,
        "asked_again",
        f"you chose to ask {name} again on “{target.name}”, though {why.split('; ')[0]}",
        now,
    )
    session.flush()
    return fill_pipeline(session, user, target, now)
