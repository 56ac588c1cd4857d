"""The letters around a meeting: confirmation, thank-you, keep-in-touch, from templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from outreach.drafts import (
    fill_in,
    maybe_auto_approve,
    needs_of,
    new_draft,
    template_for,
    values_for,
)
from outreach.models.accounts import User
from outreach.models.contacts import Contact, Target
from outreach.models.meetings import Meeting
from outreach.models.messages import Message, MessageKind
from outreach.models.outreach import Outreach
from outreach.rules import template_gaps
from outreach.rules.meeting_time import day_in_words, time_with_zones
from outreach.timeline import note_message


def _meeting_values(meeting: Meeting, user_zone: str, contact_zone: str) -> dict[str, str]:
    place = meeting.place.strip().splitlines()
    return {
        "meeting_date": day_in_words(meeting.starts_at, user_zone),
        # With its zone, and the contact's own time when their zone is known.
        "meeting_time": time_with_zones(meeting.starts_at, user_zone, contact_zone),
        "meeting_place": place[0].strip() if place else "",
        "specific_detail": meeting.specific_detail.strip().rstrip("."),
    }


def render_into(
    session: Session, user: User, meeting: Meeting, draft: Message, kind: MessageKind
) -> None:
    contact = session.get(Contact, meeting.contact_id)
    outreach = session.get(Outreach, meeting.outreach_id)
    assert contact is not None and outreach is not None
    target = session.get(Target, outreach.target_id)
    values = values_for(user, contact, target) | _meeting_values(
        meeting, user.time_zone, contact.time_zone
    )
    subject_source, body_source = template_for(session, user, kind)
    fill_in(draft, contact, values, body_source, subject_source)
    if kind is MessageKind.KEEP_IN_TOUCH and draft.body_text and "update" not in needs_of(draft):
        # A template saved before {{ update }} was asked for: the news still comes first.
        gap = template_gaps.gap_text("update", contact.first_name, contact.name)
        draft.body_text = draft.body_text.rstrip("\n") + f"\n\n{gap}\n"
        draft.needs = " ".join([*needs_of(draft), "update"])
        draft.error = template_gaps.needs_sentence(
            needs_of(draft), contact.first_name, contact.name
        )
    if "specific_detail" in needs_of(draft):
        draft.error = "write something specific from the conversation in your meeting notes first"


# What the timeline says when each letter is drafted.
_DRAFTED = {
    MessageKind.CONFIRMATION: "confirmation drafted for tomorrow's meeting",
    MessageKind.THANK_YOU: "thank-you drafted",
    MessageKind.KEEP_IN_TOUCH: "keep-in-touch update drafted: add your news before approving",
}


def draft_for_meeting(
    session: Session, user: User, meeting: Meeting, kind: MessageKind, now: datetime
) -> Message:
    """The meeting's letter of `kind` (a key of _DRAFTED), written from its template."""
    contact = session.get(Contact, meeting.contact_id)
    assert contact is not None
    draft = new_draft(user, contact, meeting.outreach_id, kind, now)
    render_into(session, user, meeting, draft, kind)
    session.add(draft)
    session.flush()
    note_message(session, draft, "drafted", _DRAFTED[kind], now)
    maybe_auto_approve(session, user, draft, now)
    return draft


def draft_thank_you(session: Session, user: User, meeting: Meeting, now: datetime) -> Message:
    """The thank-you for a held meeting; approvable once the notes say something specific."""
    return draft_for_meeting(session, user, meeting, MessageKind.THANK_YOU, now)
