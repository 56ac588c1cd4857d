"""A draft that needs values: ask for them in words, save them, write the draft again.

A value that belongs to the contact (how the user found them) is saved on the
contact; one that belongs to this message alone (the keep-in-touch news) goes into
the draft only. A draft the user edited is never written over silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.contacts import clean_text
from outreach.drafts import REFILLABLE, fill_from_template, get_message, needs_of
from outreach.errors import ValidationError
from outreach.models import Event, Message, MessageStatus, Outreach, User
from outreach.rules import template_gaps
from outreach.rules.plain_text import refuse_control_characters
from outreach.timeline import note_message


def questions_for(message: Message) -> list[template_gaps.Question]:
    """The missing values the drafts page asks for, to be saved on the contact."""
    contact = message.contact
    if contact is None or message.status is not MessageStatus.DRAFT:
        return []
    return template_gaps.questions(needs_of(message), contact.first_name, contact.name)


def gaps_in(message: Message) -> list[str]:
    """The gaps in words the draft's text still shows, one for each value it needs."""
    contact = message.contact
    if contact is None:
        return []
    return [
        template_gaps.gap_text(name, contact.first_name, contact.name) for name in needs_of(message)
    ]


# The events that say who last wrote a draft's text: the user, or the template.
_TEXT_EVENTS = ("draft_edited", "draft_refilled", "draft_values_given")


def _last_text_events(session: Session, message_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Event.message_id, Event.kind)
        .where(Event.message_id.in_(message_ids), Event.kind.in_(_TEXT_EVENTS))
        .order_by(Event.id)
    )
    return {message_id: kind for message_id, kind in rows if message_id is not None}


def edited_since_filled(session: Session, message: Message) -> bool:
    """Whether the user changed the draft's text since it was last written from its template."""
    return _last_text_events(session, [message.id]).get(message.id, "draft_refilled") != (
        "draft_refilled"
    )


def values_given_into_edits(session: Session, message_ids: Sequence[int]) -> set[int]:
    """The drafts whose values went into the user's own text (supply_values kept their edits)."""
    if not message_ids:
        return set()
    last = _last_text_events(session, message_ids)
    return {message_id for message_id, kind in last.items() if kind == "draft_values_given"}


def refill(session: Session, user: User, message_id: int, now: datetime) -> Message:
    """Write a draft again from its template with today's values: the user's edits go.

    :raise ValidationError: when it is no longer a draft, or not a request or follow-up.
    """
    message = get_message(session, user, message_id)
    if message.status is not MessageStatus.DRAFT or message.contact is None:
        raise ValidationError("this message is no longer a draft")
    if message.kind not in REFILLABLE:
        raise ValidationError(
            "only a request or a follow-up is written again from its template; edit this one"
        )
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    target = outreach.target if outreach is not None else None
    fill_from_template(session, user, message, message.contact, target)
    note_message(session, message, "draft_refilled", "draft written again from the template", now)
    return message


@dataclass(frozen=True)
class Supplied:
    message: Message
    # The user had edited the draft: their text was kept, the values put in its gaps.
    kept_edits: bool


def supply_values(
    session: Session, user: User, message_id: int, answers: Mapping[str, str], now: datetime
) -> Supplied:
    """Save the values a draft asks for on its contact, then write the draft again.

    A draft the user edited is never written over silently: the values go into
    the gaps of their own text, and `kept_edits` says so (the page offers refill).

    :raise ValidationError: for a value empty, too long or holding a control
        character (nothing is saved then), or a draft that asks for nothing.
    """
    message = get_message(session, user, message_id)
    contact = message.contact
    if message.status is not MessageStatus.DRAFT or contact is None:
        raise ValidationError("this message is no longer a draft")
    asked = template_gaps.questions(needs_of(message), contact.first_name, contact.name)
    if not asked:
        raise ValidationError("this draft does not ask for anything")
    given: dict[str, str] = {}
    for question in asked:
        raw = answers.get(question.name, "")
        value = _clean_paragraphs(raw) if question.multi_line else clean_text(raw)
        refuse_control_characters(question.words, value, multi_line=question.multi_line)
        if not value:
            raise ValidationError(f"write {question.words} in the box first")
        if len(value) > question.max_length:
            raise ValidationError(
                f"{question.words} is too long: {question.max_length} characters at most"
            )
        given[question.name] = value
    gaps = {name: template_gaps.gap_text(name, contact.first_name, contact.name) for name in given}
    on_contact = {question.name for question in asked if question.on_contact}
    for name, value in given.items():
        if name in on_contact:
            setattr(contact, name, value)
    edited = edited_since_filled(session, message)
    if message.kind in REFILLABLE and given.keys() <= on_contact and not edited:
        return Supplied(refill(session, user, message.id, now), kept_edits=False)
    for name, value in given.items():
        message.subject = message.subject.replace(gaps[name], value)
        message.body_text = message.body_text.replace(gaps[name], value)
    still = [name for name in needs_of(message) if name not in given]
    message.needs = " ".join(still)
    message.error = (
        template_gaps.needs_sentence(still, contact.first_name, contact.name) if still else None
    )
    words = ", ".join(question.words for question in asked)
    if not edited and not on_contact:
        # Values for this message only (the keep-in-touch news), into the template's text.
        note_message(session, message, "draft_update_given", f"{words} written in", now)
        return Supplied(message, kept_edits=False)
    note_message(session, message, "draft_values_given", f"{words} given; your text kept", now)
    return Supplied(message, kept_edits=True)


def _clean_paragraphs(text: str) -> str:
    """A few lines of the user's own words: line ends made "\n", the ends trimmed."""
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()
