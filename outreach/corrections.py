"""The user corrects how an inbound message was read; the cycle follows as if detected.

Classification is careful but not infallible: an out-of-office that reads like a
person, a colleague's answer from the same organisation (a *possible reply*,
matched by domain only), a polite "no" that sounded like a "yes". On the contact's
page the user says what the message really is, and:

1. whatever the message did to the outreach is undone, returning it to where it
   stood before (only while nothing else has happened since: `states.CORRECTABLE`);
2. the new reading is applied through the same code the poller uses
   (`transitions.transition`, `transitions.pause_for_absence`), so a correction
   drives the cycle exactly as a detection would: a decline drafts the next name,
   a reply stops all automation, an automatic reply pauses the clock.

Correcting to the reading already in force changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.drafts import get_message
from outreach.errors import ValidationError
from outreach.models import (
    Contact,
    Direction,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.reading.matching import (
    CONFIRMED_POSSIBLE_REPLY,
    DISMISSED_POSSIBLE_REPLY,
    POSSIBLE_REPLY,
)
from outreach.reading.return_date import find_return_date
from outreach.rules.cycle import CLOCKED
from outreach.rules.states import OutreachState, Trigger, can_apply, can_revert
from outreach.timeline import note_about, note_message
from outreach.transitions import pause_for_absence, start_clock, transition


class Verdict(StrEnum):
    """What the user says an inbound message is."""

    REPLY = "reply"
    DECLINE = "decline"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    NOT_RELATED = "not_related"


VERDICT_WORDS = {
    Verdict.REPLY: "a reply from them",
    Verdict.DECLINE: "a reply saying no",
    Verdict.AUTO_REPLY: "an automatic reply (out of office)",
    Verdict.BOUNCE: "a failed delivery (the address does not work)",
    Verdict.NOT_RELATED: "nothing to do with this request",
}

# The state each reading moves an outreach to, when it moves it at all.
_CAUSES = {
    Verdict.REPLY: OutreachState.REPLIED,
    Verdict.DECLINE: OutreachState.DECLINED,
    Verdict.BOUNCE: OutreachState.BOUNCED,
}
_TRIGGERS = {
    Verdict.REPLY: Trigger.REPLY_RECEIVED,
    Verdict.DECLINE: Trigger.DECLINE_RECEIVED,
    Verdict.BOUNCE: Trigger.BOUNCE_RECEIVED,
}
_KINDS = {
    Verdict.REPLY: MessageKind.REPLY,
    Verdict.DECLINE: MessageKind.REPLY,
    Verdict.AUTO_REPLY: MessageKind.AUTO_REPLY,
    Verdict.BOUNCE: MessageKind.BOUNCE,
}


@dataclass(frozen=True)
class PossibleReply:
    """A message matched only by its sender's domain, waiting for the user's word."""

    message_id: int
    contact_id: int
    contact_name: str
    sender: str
    subject: str
    received_at: datetime | None


def pending_possible_replies(session: Session, user: User) -> list[PossibleReply]:
    """Possible replies the user has not confirmed or dismissed yet, oldest first."""
    rows = session.execute(
        select(Message, Contact.name)
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Message.user_id == user.id,
            Message.direction == Direction.INBOUND,
            Message.match_rule == POSSIBLE_REPLY,
        )
        .order_by(Message.received_at, Message.id)
    )
    return [
        PossibleReply(
            message_id=message.id,
            contact_id=message.contact_id or 0,
            contact_name=name,
            sender=message.from_address,
            subject=message.subject,
            received_at=message.received_at,
        )
        for message, name in rows
    ]


# Per outreach, its state changes in order: (the message that caused it, the new state).
StateHistory = list[tuple[int | None, OutreachState]]


def current_verdict(
    session: Session, message: Message, history: StateHistory | None = None
) -> Verdict | None:
    """How the message reads now: None while it is an unanswered possible reply.

    `history` is the outreach's state history when the caller already has it.
    """
    if message.match_rule == POSSIBLE_REPLY:
        return None
    if message.match_rule == DISMISSED_POSSIBLE_REPLY or (message.match_rule or "").endswith(
        "not related"
    ):
        return Verdict.NOT_RELATED
    if history is None:
        history = _history_of(session, message.outreach_id)
    moved = _transition_in(history, message.id)
    if moved is not None and moved[0] is OutreachState.DECLINED:
        return Verdict.DECLINE
    if moved is not None and moved[0] is OutreachState.BOUNCED:
        # An automatic "no longer monitored" or "has left" ends the request as a bounce does.
        return Verdict.BOUNCE
    if message.kind is MessageKind.AUTO_REPLY:
        return Verdict.AUTO_REPLY
    if message.kind is MessageKind.BOUNCE:
        return Verdict.BOUNCE
    return Verdict.REPLY


def verdicts_of(session: Session, messages: Sequence[Message]) -> dict[int, Verdict | None]:
    """current_verdict for each received message linked to an outreach, in one query."""
    received = [
        message
        for message in messages
        if message.direction is Direction.INBOUND and message.outreach_id is not None
    ]
    histories = _histories(session, [message.outreach_id for message in received])
    return {
        message.id: current_verdict(session, message, histories.get(message.outreach_id or 0, []))
        for message in received
    }


def correct(
    session: Session, user: User, message_id: int, verdict: Verdict, now: datetime
) -> Message:
    """Read message `message_id` as `verdict` and let the cycle follow.

    :raise NotFound: when the message is not the user's.
    :raise ValidationError: when it cannot be corrected (not received, not linked
        to a request, or the contact has moved on since it was read).
    """
    message = get_message(session, user, message_id)
    if message.direction is not Direction.INBOUND:
        raise ValidationError("only messages you received can be corrected")
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    if outreach is None:
        raise ValidationError("this message is not linked to one of your requests")
    if current_verdict(session, message) is verdict:
        return message
    name = outreach.contact.name
    said = f"you said this message is {VERDICT_WORDS[verdict]}"
    _undo(session, outreach, message, name, now)
    possible = message.match_rule == POSSIBLE_REPLY
    if verdict is Verdict.NOT_RELATED:
        message.match_rule = DISMISSED_POSSIBLE_REPLY if possible else "corrected: not related"
        note_message(session, message, "corrected", f"{said}; it no longer counts for {name}", now)
        return message
    message.kind = _KINDS[verdict]
    if possible:
        message.match_rule = CONFIRMED_POSSIBLE_REPLY
    elif not (message.match_rule or "").startswith("corrected"):
        message.match_rule = f"corrected by you (was {message.match_rule})"[:64]
    trigger = _TRIGGERS.get(verdict)
    if trigger is not None:
        if not can_apply(outreach.state, trigger):
            raise ValidationError(
                f"{name} is now '{_words(outreach.state)}', "
                f"so this cannot count as {VERDICT_WORDS[verdict]}"
            )
        detail = f"{said}; {name} is now '{_words(_CAUSES[verdict])}'"
        transition(session, outreach, trigger, now, detail, message.id)
        return message
    # An automatic reply: it pauses the clock (if it runs) and changes nothing else.
    if outreach.state in CLOCKED and outreach.next_step_at is not None:
        received = message.received_at or now
        back = find_return_date(message.body_text, received)
        paused = pause_for_absence(session, outreach, back, now)
        note_message(session, message, "corrected", f"{said}; {paused}", now)
    else:
        note_message(session, message, "corrected", f"{said}; nothing else changes", now)
    return message


def _undo(session: Session, outreach: Outreach, message: Message, name: str, now: datetime) -> None:
    """Return the outreach to where it stood before `message` moved it, if it did."""
    moved = _transition_caused_by(session, message)
    if moved is None:
        return
    caused, before = moved
    if outreach.state is not caused or not can_revert(caused, before):
        raise ValidationError(
            f"{name} has moved on since this message was read (now "
            f"'{_words(outreach.state)}'), so it can no longer be corrected here"
        )
    outreach.state = before
    _restore_clock(session, outreach, before, now)
    corrected = f"corrected by you: back to '{_words(before)}'"
    note_about(session, outreach, f"state:{before.value}", corrected, now, message.id)


def _restore_clock(
    session: Session, outreach: Outreach, state: OutreachState, now: datetime
) -> None:
    """Give the outreach back the dates it had in `state`, from the message that began it.

    WAITING began when the request was sent and FOLLOWED_UP when the follow-up was:
    the board's "day 3 of 5" counts from there, and the next step falls where it fell.
    """
    outreach.state_changed_at = now
    outreach.next_step_at = None
    if state not in CLOCKED:
        return
    kind = MessageKind.FOLLOW_UP if state is OutreachState.FOLLOWED_UP else MessageKind.REQUEST
    sent_at = session.scalar(
        select(Message.sent_at)
        .where(
            Message.outreach_id == outreach.id,
            Message.kind == kind,
            Message.status == MessageStatus.SENT,
        )
        .order_by(Message.sent_at.desc())
        .limit(1)
    )
    if sent_at is None:
        return
    outreach.state_changed_at = sent_at
    start_clock(session, outreach, state, sent_at)


def _transition_caused_by(
    session: Session, message: Message
) -> tuple[OutreachState, OutreachState] | None:
    return _transition_in(_history_of(session, message.outreach_id), message.id)


def _history_of(session: Session, outreach_id: int | None) -> StateHistory:
    if outreach_id is None:
        return []
    return _histories(session, [outreach_id])[outreach_id]


def _histories(session: Session, outreach_ids: Sequence[int | None]) -> dict[int, StateHistory]:
    """The state histories of these outreaches, read in one query."""
    wanted = {outreach_id for outreach_id in outreach_ids if outreach_id is not None}
    histories: dict[int, StateHistory] = {outreach_id: [] for outreach_id in wanted}
    if not wanted:
        return histories
    rows = session.execute(
        select(Event.outreach_id, Event.message_id, Event.kind)
        .where(Event.outreach_id.in_(wanted), Event.kind.like("state:%"))
        .order_by(Event.id)
    )
    for outreach_id, message_id, kind in rows:
        state = _state_of(kind)
        if outreach_id is not None and state is not None:
            histories[outreach_id].append((message_id, state))
    return histories


def _transition_in(
    history: StateHistory, message_id: int
) -> tuple[OutreachState, OutreachState] | None:
    """(the state the message moved its outreach to, the state before), if it moved it."""
    for index in range(len(history) - 1, -1, -1):
        cause, caused = history[index]
        if cause != message_id:
            continue
        if caused in {OutreachState.WAITING, OutreachState.FOLLOWED_UP}:
            # Our own undo's record ("back to waiting"), not the message's doing.
            return None
        return (caused, history[index - 1][1]) if index > 0 else None
    return None


def _state_of(kind: str) -> OutreachState | None:
    try:
        return OutreachState(kind.removeprefix("state:"))
    except ValueError:
        return None


def _words(state: OutreachState) -> str:
    return state.value.replace("_", " ")
