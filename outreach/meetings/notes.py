"""What the user keeps from a meeting: notes, the standard questions, the people suggested."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import normalise_email
from outreach.contacts import (
    ContactInput,
    add_contact,
    find_by_email,
    get_contact,
    list_contacts,
)
from outreach.drafts import latest_message, maybe_auto_approve
from outreach.errors import ValidationError
from outreach.meetings.finding import get_meeting, note_meeting
from outreach.meetings.letters import render_into

# QUESTIONS and QUESTION_KEYS lived here: they stay importable from this module.
from outreach.meetings.questions import QUESTION_KEYS as QUESTION_KEYS
from outreach.meetings.questions import QUESTIONS as QUESTIONS
from outreach.meetings.questions import Question, questions_of
from outreach.models.accounts import User
from outreach.models.contacts import Contact, Target
from outreach.models.meetings import Meeting
from outreach.models.messages import Event, Message, MessageKind, MessageStatus
from outreach.models.outreach import Outreach
from outreach.rules.compose import one_line
from outreach.rules.plain_text import refuse_control_characters
from outreach.rules.sandbox_addresses import is_sandbox, pretend_address
from outreach.targets import add_to_target
from outreach.timeline import note_message

MAX_NOTE = 20_000
MAX_REFLECTION = 5_000


@dataclass(frozen=True)
class MeetingNotes:
    learned: str = ""
    specific_detail: str = ""
    answers: Mapping[str, str] = field(default_factory=dict)
    reflection: Reflection | None = None


@dataclass(frozen=True)
class Reflection:
    """How it went, written soon after (the guides' follow-up and the course assignment)."""

    fit: str = ""
    went_well: str = ""
    do_better: str = ""
    next_steps: str = ""


# The reflection's parts: (field of Reflection and "reflection_<field>" of Meeting, heading).
REFLECTION_PARTS: tuple[tuple[str, str], ...] = (
    ("fit", "How would this work fit you: your interests, skills, life and plans?"),
    ("went_well", "What went well?"),
    ("do_better", "What would you do better next time?"),
    ("next_steps", "Next steps"),
)


def reflection_of(meeting: Meeting) -> Reflection:
    return Reflection(
        fit=meeting.reflection_fit,
        went_well=meeting.reflection_went_well,
        do_better=meeting.reflection_do_better,
        next_steps=meeting.reflection_next_steps,
    )


def _stored_answers(meeting: Meeting) -> dict[str, str]:
    try:
        stored = json.loads(meeting.answers_json or "{}")
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {str(key): str(value or "") for key, value in stored.items()}


def answers_of(meeting: Meeting) -> dict[str, str]:
    """The standard questions' answers, every key present (empty when not answered)."""
    stored = _stored_answers(meeting)
    return {key: stored.get(key, "") for key in QUESTION_KEYS}


def own_answers(meeting: Meeting) -> list[tuple[Question, str]]:
    """The user's own prepared questions, in their order, each with its answer (or "")."""
    stored = _stored_answers(meeting)
    return [(q, stored.get(q.id, "")) for q in questions_of(meeting) if not q.standard]


def _text(value: str, what: str, limit: int = MAX_NOTE) -> str:
    clean = value.replace("\r\n", "\n").strip()
    refuse_control_characters(what, clean, multi_line=True)
    if len(clean) > limit:
        raise ValidationError(f"{what} is too long ({limit:,} characters at most)")
    return clean


def save_notes(
    session: Session, user: User, meeting_id: int, notes: MeetingNotes, now: datetime
) -> Meeting:
    """Keep what the user wrote after (or during) the meeting.

    The thank-you draft, if not edited by hand, is written again, so the
    specific detail appears in it and it can be approved.

    :raise NotFound: when the meeting is not the user's.
    """
    meeting = get_meeting(session, user, meeting_id)
    own = [question.id for question, _ in own_answers(meeting)]
    unknown = set(notes.answers) - set(QUESTION_KEYS) - set(own)
    if unknown:
        raise ValidationError(f"there is no question called '{sorted(unknown)[0]}'")
    meeting.learned = _text(notes.learned, "what you learned")
    detail = one_line(notes.specific_detail)
    if len(detail) > 500:
        raise ValidationError("the specific detail is too long (500 characters at most)")
    meeting.specific_detail = detail
    # An own question taken off the list keeps its answer, out of sight.
    answers = {
        key: value
        for key, value in _stored_answers(meeting).items()
        if key not in QUESTION_KEYS and key not in own
    }
    for key in (*QUESTION_KEYS, *own):
        answers[key] = _text(notes.answers.get(key, ""), "an answer")
    if notes.reflection is not None:
        for part, heading in REFLECTION_PARTS:
            text = _text(getattr(notes.reflection, part), f'"{heading}"', MAX_REFLECTION)
            setattr(meeting, f"reflection_{part}", text)
    meeting.answers_json = json.dumps(
        {key: value for key, value in answers.items() if value}, ensure_ascii=False
    )
    note_meeting(session, meeting, "meeting:notes", "meeting notes saved", now)
    draft = latest_message(
        session, meeting.outreach_id, MessageKind.THANK_YOU, Message.status == MessageStatus.DRAFT
    )
    if draft is not None and not _edited_by_hand(session, draft):
        render_into(session, user, meeting, draft, MessageKind.THANK_YOU)
        if draft.error is None:
            note_message(session, draft, "draft_updated", "thank-you written from your notes", now)
            maybe_auto_approve(session, user, draft, now)
    return meeting


@dataclass(frozen=True)
class Referral:
    name: str
    email: str
    role: str = ""
    organisation: str = ""


@dataclass(frozen=True)
class ReferralResult:
    contact: Contact
    created: bool
    # The outreach on the meeting's target, when the name was added to its list.
    outreach: Outreach | None
    # Requests drafted at once because the name took a free place on the list
    # (target_actions.add_suggested_person; add_referral itself drafts nothing).
    drafted: list[Message] = field(default_factory=list)


def referrals_of(session: Session, user: User, contact_id: int) -> list[Contact]:
    """The people `contact_id` suggested, by name."""
    return list_contacts(session, user, Contact.referred_by_id == contact_id)


def add_referral(
    session: Session,
    user: User,
    meeting_id: int,
    referral: Referral,
    now: datetime,
    *,
    add_to_list: bool = True,
) -> ReferralResult:
    """Make a name the contact suggested into a contact "referred by" them.

    An address already on the list is not doubled: it gains the referrer if it had
    none. With `add_to_list`, the person joins the end of the meeting's target list,
    where their request waits its turn; target_actions.add_suggested_person also
    drafts it at once when a place is free.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: for a missing name or a bad address.
    """
    meeting = get_meeting(session, user, meeting_id)
    referrer = get_contact(session, user, meeting.contact_id)
    email = _suggested_address(referrer, referral)
    if email == referrer.email:
        raise ValidationError(f"{email} is {referrer.name}'s own address")
    contact = find_by_email(session, user, email)
    created = contact is None
    if contact is None:
        contact = add_contact(
            session,
            user,
            ContactInput(
                email=email,
                name=referral.name,
                role=referral.role,
                organisation=referral.organisation,
                how_found=f"{referrer.name}'s suggestion",
                referred_by_id=referrer.id,
            ),
        )
    elif contact.referred_by_id is None:
        contact.referred_by_id = referrer.id
    session.flush()
    session.refresh(contact, ["referred_by"])
    said = "added to your contacts" if created else "already on your contacts"
    note_meeting(session, meeting, "meeting:referral", f"suggested {contact.name} ({said})", now)
    outreach: Outreach | None = None
    if add_to_list:
        meeting_outreach = session.get(Outreach, meeting.outreach_id)
        target = session.get(Target, meeting_outreach.target_id) if meeting_outreach else None
        on_list = target is not None and session.scalar(
            select(Outreach.id).where(
                Outreach.target_id == target.id, Outreach.contact_id == contact.id
            )
        )
        if target is not None and not on_list and not contact.do_not_contact:
            outreach = add_to_target(session, user, target, contact.id)
    return ReferralResult(contact, created, outreach)


def _suggested_address(referrer: Contact, referral: Referral) -> str:
    """The address a suggested person is written to: pretend people suggest pretend people.

    Sandbox people stay in the sandbox (decision 0009): a name a sandbox contact
    suggests gets a sandbox address whatever was typed, so the sandbox mailbox can
    send its request; and a real person's suggestion is never a sandbox address.
    """
    if is_sandbox(referrer.email):
        if referral.email.strip():
            normalise_email(referral.email)
        if not one_line(referral.name):
            raise ValidationError("give the person's name")
        return normalise_email(pretend_address(referral.name, referral.email))
    if not referral.email.strip():
        raise ValidationError("give their address")
    email = normalise_email(referral.email)
    if is_sandbox(email):
        raise ValidationError(
            f"{email} is a sandbox address, and {referrer.name} is a real person: "
            "give the address they suggested"
        )
    return email


def _edited_by_hand(session: Session, draft: Message) -> bool:
    return (
        session.scalar(
            select(Event.id)
            .where(Event.message_id == draft.id, Event.kind == "draft_edited")
            .limit(1)
        )
        is not None
    )
