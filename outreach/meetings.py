"""Meetings and what follows them: confirmation, notes, referrals, thank-you, keep in touch.

A meeting is recorded by the user, or read from a calendar invitation in a reply
(then it waits, PROPOSED, for the user to confirm it). The time-based steps live
in `run_due`, which the scheduler calls: each is taken once, claimed by a
compare-and-set on its row, so two workers running it together take it once.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Update, exists, func, select, update
from sqlalchemy.orm import Session, selectinload

from outreach import templates
from outreach.accounts import normalise_email
from outreach.compose import one_line
from outreach.contacts import ContactInput, add_contact, find_by_email, get_contact
from outreach.cycle import zone_of
from outreach.drafts import cancel_unsent, maybe_auto_approve, template_for, values_for
from outreach.errors import MissingVariable, NotFound, TemplateError, ValidationError
from outreach.invitations import Invitation, InvitationError, calendar_parts, invitations_in
from outreach.models import (
    Contact,
    Direction,
    Event,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    User,
)
from outreach.states import AWAITING_ANSWER, OutreachState, Trigger, can_apply
from outreach.targets import add_to_target
from outreach.timeline import advance, note_message, record

log = logging.getLogger(__name__)

# A thank-you goes within two days of the conversation.
THANK_YOU_WITHIN = timedelta(days=2)
MAX_DURATION_MINUTES = 12 * 60
MAX_NOTE = 20_000

# The standard questions of an informational interview: (key in answers_json, question).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("typical_day", "What is a typical day like?"),
    ("working_conditions", "What are the working conditions: hours, place, pressure, travel?"),
    ("likes_dislikes", "What do they like most about the work, and least?"),
    ("education", "What education and training does the work need?"),
    ("skills", "Which skills matter most?"),
    ("entry_pay", "What does an entry-level position pay?"),
    ("growth", "How do people grow and move up?"),
    ("outlook", "What is the outlook for the field?"),
    ("advice", "What advice do they have for someone starting out?"),
)
QUESTION_KEYS = tuple(key for key, _ in QUESTIONS)

# Outbound messages not yet gone: a changed meeting makes their text wrong.
_UNSENT = (
    MessageStatus.DRAFT,
    MessageStatus.APPROVED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
)
# Where a meeting may be recorded: a person answered, or the answer came another way
# (by phone, in person) while we were still waiting for one.
_MEETABLE = frozenset({OutreachState.REPLIED}) | AWAITING_ANSWER
_OPEN = (MeetingStatus.PROPOSED, MeetingStatus.SCHEDULED)


# --- reading and writing times ----------------------------------------------------------------


def local_to_utc(day: date, at: time, time_zone: str) -> datetime:
    """The UTC moment of a wall-clock date and time in `time_zone`.

    On the night clocks go back, the first of the two moments is taken; a time
    skipped when clocks go forward is moved on by the jump, as a clock would.
    """
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone_of(time_zone))
    return local.astimezone(UTC)


def ends_at(meeting: Meeting) -> datetime:
    return meeting.starts_at + timedelta(minutes=meeting.duration_minutes)


def when_in_words(moment: datetime, time_zone: str) -> str:
    """ "Thursday 3 December 2026, 14:00 (Europe/London)"."""
    here = moment.astimezone(zone_of(time_zone))
    return f"{here:%A} {here.day} {here:%B %Y, %H:%M} ({time_zone or 'UTC'})"


def _meeting_values(meeting: Meeting, time_zone: str) -> dict[str, str]:
    here = meeting.starts_at.astimezone(zone_of(time_zone))
    place = meeting.place.strip().splitlines()
    return {
        "meeting_date": f"{here:%A} {here.day} {here:%B}",
        "meeting_time": f"{here:%H:%M}",
        "meeting_place": place[0].strip() if place else "",
        "specific_detail": meeting.specific_detail.strip().rstrip("."),
    }


# --- finding meetings -------------------------------------------------------------------------


def get_meeting(session: Session, user: User, meeting_id: int) -> Meeting:
    """:raise NotFound: when the meeting does not exist or is someone else's."""
    meeting = session.scalar(
        select(Meeting).where(Meeting.id == meeting_id, Meeting.user_id == user.id)
    )
    if meeting is None:
        raise NotFound("no such meeting")
    return meeting


def list_meetings(session: Session, user: User) -> list[Meeting]:
    """All the user's meetings, soonest first, each with its contact loaded."""
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.user_id == user.id)
            .options(selectinload(Meeting.contact))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def meetings_for_contact(session: Session, user: User, contact_id: int) -> list[Meeting]:
    """One contact's meetings, soonest first.

    :raise NotFound: when the contact is not the user's.
    """
    contact = get_contact(session, user, contact_id)
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.user_id == user.id, Meeting.contact_id == contact.id)
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


@dataclass(frozen=True)
class MeetableOutreach:
    outreach_id: int
    contact_id: int
    contact_name: str
    target_name: str
    state: OutreachState


def meetable_outreaches(
    session: Session, user: User, contact_id: int | None = None
) -> list[MeetableOutreach]:
    """Outreaches for which a meeting can be recorded, by contact name."""
    query = (
        select(Outreach, Contact, Target)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(Outreach.user_id == user.id, Outreach.state.in_(_MEETABLE))
        .order_by(Contact.name, Target.name)
    )
    if contact_id is not None:
        query = query.where(Outreach.contact_id == contact_id)
    return [
        MeetableOutreach(outreach.id, contact.id, contact.name, target.name, outreach.state)
        for outreach, contact, target in session.execute(query)
    ]


def _outreach(session: Session, user: User, outreach_id: int) -> Outreach:
    outreach = session.scalar(
        select(Outreach).where(Outreach.id == outreach_id, Outreach.user_id == user.id)
    )
    if outreach is None:
        raise NotFound("no such outreach")
    return outreach


def thank_you_sent(session: Session, meeting: Meeting) -> bool:
    return (
        session.scalar(
            select(Message.id)
            .where(
                Message.outreach_id == meeting.outreach_id,
                Message.kind == MessageKind.THANK_YOU,
                Message.status == MessageStatus.SENT,
            )
            .limit(1)
        )
        is not None
    )


def thank_you_of(session: Session, meeting: Meeting) -> Message | None:
    """The meeting's latest thank-you that is not cancelled (draft, approved or sent)."""
    return session.scalar(
        select(Message)
        .where(
            Message.user_id == meeting.user_id,
            Message.outreach_id == meeting.outreach_id,
            Message.kind == MessageKind.THANK_YOU,
            Message.status != MessageStatus.CANCELLED,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


def overdue_thank_yous(session: Session, user: User, now: datetime) -> list[Meeting]:
    """Meetings held whose thank-you is past due and not sent."""
    sent = exists().where(
        Message.outreach_id == Meeting.outreach_id,
        Message.kind == MessageKind.THANK_YOU,
        Message.status == MessageStatus.SENT,
    )
    return list(
        session.scalars(
            select(Meeting)
            .where(
                Meeting.user_id == user.id,
                Meeting.status == MeetingStatus.HELD,
                Meeting.thank_you_due_at < now,
                ~sent,
            )
            .options(selectinload(Meeting.contact))
            .order_by(Meeting.thank_you_due_at)
        )
    )


def attention_count(session: Session, user: User, now: datetime) -> int:
    """Invitations to confirm plus thank-yous overdue: what the Meetings tab counts."""
    proposed = session.scalar(
        select(func.count())
        .select_from(Meeting)
        .where(Meeting.user_id == user.id, Meeting.status == MeetingStatus.PROPOSED)
    )
    return (proposed or 0) + len(overdue_thank_yous(session, user, now))


# --- recording, changing, cancelling ----------------------------------------------------------


@dataclass(frozen=True)
class MeetingDetails:
    starts_at: datetime  # aware
    duration_minutes: int = 30
    place: str = ""


def _check(details: MeetingDetails) -> MeetingDetails:
    if details.starts_at.tzinfo is None:
        raise ValidationError("the meeting's time needs a time zone")
    if not 1 <= details.duration_minutes <= MAX_DURATION_MINUTES:
        raise ValidationError("a meeting lasts between 1 minute and 12 hours")
    place = details.place.replace("\r\n", "\n").strip()
    if len(place) > 2000:
        raise ValidationError("the place or call details are too long (2,000 characters at most)")
    return MeetingDetails(details.starts_at.astimezone(UTC), details.duration_minutes, place)


def _describe(meeting: Meeting, time_zone: str) -> str:
    where = meeting.place.strip().splitlines()
    at = f", {where[0]}" if where else ""
    return f"{when_in_words(meeting.starts_at, time_zone)}, {meeting.duration_minutes} min{at}"


def _set_meeting(session: Session, outreach: Outreach, meeting: Meeting, now: datetime) -> None:
    """Move the outreach to MEETING_SET, marking it replied first if the answer came another way."""
    if outreach.state in AWAITING_ANSWER:
        advance(session, outreach, Trigger.REPLY_RECEIVED, now, "marked as replied by you")
        outreach.next_step_at = None
        # They answered another way: a follow-up waiting in the drafts would be wrong now.
        cancel_unsent(session, outreach, now, "they answered: no follow-up needed")
    if outreach.state is OutreachState.MEETING_SET:
        return
    if not can_apply(outreach.state, Trigger.MEETING_SET):
        raise ValidationError(
            f"a meeting cannot be set while the outreach is '{outreach.state.value}'"
        )
    user = session.get(User, outreach.user_id)
    time_zone = user.time_zone if user else "UTC"
    advance(
        session,
        outreach,
        Trigger.MEETING_SET,
        now,
        f"meeting set: {_describe(meeting, time_zone)}",
    )


def _replace_other_scheduled(session: Session, meeting: Meeting, now: datetime) -> None:
    """One meeting at a time per outreach: a newer one replaces the one planned before."""
    for other in session.scalars(
        select(Meeting).where(
            Meeting.outreach_id == meeting.outreach_id,
            Meeting.id != meeting.id,
            Meeting.status == MeetingStatus.SCHEDULED,
        )
    ):
        other.status = MeetingStatus.CANCELLED
        _cancel_unsent(session, other, MessageKind.CONFIRMATION)
        _note(
            session, other, "meeting:replaced", "an earlier meeting was replaced by this one", now
        )


def record_meeting(
    session: Session, user: User, outreach_id: int, details: MeetingDetails, now: datetime
) -> Meeting:
    """Record a meeting the user agreed with a contact.

    :raise NotFound: when the outreach is not the user's.
    :raise ValidationError: when the outreach cannot take a meeting now.
    """
    outreach = _outreach(session, user, outreach_id)
    clean = _check(details)
    if outreach.state not in _MEETABLE:
        if outreach.state is OutreachState.MEETING_SET:
            raise ValidationError(
                "a meeting is already set with this person: change or cancel that one"
            )
        raise ValidationError(
            f"a meeting cannot be recorded while the outreach is '{outreach.state.value}'"
        )
    meeting = Meeting(
        user_id=user.id,
        outreach_id=outreach.id,
        contact_id=outreach.contact_id,
        starts_at=clean.starts_at,
        duration_minutes=clean.duration_minutes,
        place=clean.place,
        status=MeetingStatus.SCHEDULED,
        source="manual",
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    _set_meeting(session, outreach, meeting, now)
    return meeting


def _cancel_unsent(session: Session, meeting: Meeting, kind: MessageKind) -> int:
    """Cancel the meeting's unsent messages of `kind` (compare-and-set: a worker may hold one)."""
    result = session.execute(
        update(Message)
        .where(
            Message.outreach_id == meeting.outreach_id,
            Message.kind == kind,
            Message.status.in_(_UNSENT),
        )
        .values(status=MessageStatus.CANCELLED, error="the meeting changed")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _move(session: Session, meeting: Meeting, details: MeetingDetails) -> bool:
    """Apply new details; True when the time moved (the confirmation must be redone)."""
    moved = details.starts_at != meeting.starts_at
    meeting.starts_at = details.starts_at
    meeting.duration_minutes = details.duration_minutes
    meeting.place = details.place
    if moved:
        meeting.confirmation_drafted_at = None
        _cancel_unsent(session, meeting, MessageKind.CONFIRMATION)
    return moved


def update_meeting(
    session: Session, user: User, meeting_id: int, details: MeetingDetails, now: datetime
) -> Meeting:
    """Change a meeting's time, length or place (reschedule).

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it was already held or cancelled.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status not in _OPEN:
        raise ValidationError(f"this meeting is {meeting.status.value} and can no longer change")
    moved = _move(session, meeting, _check(details))
    what = "meeting moved" if moved else "meeting details changed"
    _note(session, meeting, "meeting:changed", f"{what}: {_describe(meeting, user.time_zone)}", now)
    return meeting


def cancel_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Call a meeting off; the contact is back to 'replied', ready for a new date.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it was already held or cancelled.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status not in _OPEN:
        raise ValidationError(f"this meeting is {meeting.status.value} and cannot be cancelled")
    _cancel(session, meeting, now, "meeting cancelled")
    return meeting


def _cancel(session: Session, meeting: Meeting, now: datetime, detail: str) -> None:
    was_scheduled = meeting.status is MeetingStatus.SCHEDULED
    meeting.status = MeetingStatus.CANCELLED
    _cancel_unsent(session, meeting, MessageKind.CONFIRMATION)
    outreach = session.get(Outreach, meeting.outreach_id)
    still_planned = session.scalar(
        select(Meeting.id).where(
            Meeting.outreach_id == meeting.outreach_id,
            Meeting.id != meeting.id,
            Meeting.status == MeetingStatus.SCHEDULED,
        )
    )
    if (
        was_scheduled
        and outreach is not None
        and still_planned is None
        and can_apply(outreach.state, Trigger.MEETING_CANCELLED)
    ):
        advance(session, outreach, Trigger.MEETING_CANCELLED, now, detail)
    else:
        _note(session, meeting, "meeting:cancelled", detail, now)


def confirm_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Accept a meeting read from an invitation: it is scheduled, the contact 'meeting set'.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it is not waiting for confirmation.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status is not MeetingStatus.PROPOSED:
        raise ValidationError(f"this meeting is {meeting.status.value}, not waiting for you")
    outreach = _outreach(session, user, meeting.outreach_id)
    if outreach.state not in _MEETABLE and outreach.state is not OutreachState.MEETING_SET:
        raise ValidationError(
            f"a meeting cannot be set while the outreach is '{outreach.state.value}'"
        )
    meeting.status = MeetingStatus.SCHEDULED
    _replace_other_scheduled(session, meeting, now)
    if outreach.state is OutreachState.MEETING_SET:
        _note(session, meeting, "meeting:confirmed", "invitation confirmed", now)
    else:
        _set_meeting(session, outreach, meeting, now)
    return meeting


def dismiss_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Turn down a meeting read from an invitation (a wrong guess, or a duplicate).

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it is not waiting for confirmation.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status is not MeetingStatus.PROPOSED:
        raise ValidationError(f"this meeting is {meeting.status.value}, not waiting for you")
    meeting.status = MeetingStatus.CANCELLED
    _note(session, meeting, "meeting:dismissed", "invitation dismissed by you", now)
    return meeting


def _note(session: Session, meeting: Meeting, kind: str, detail: str, now: datetime) -> Event:
    return record(
        session,
        user_id=meeting.user_id,
        kind=kind,
        detail=detail,
        now=now,
        contact_id=meeting.contact_id,
        outreach_id=meeting.outreach_id,
        message_id=meeting.invitation_message_id,
    )


# --- invitations in replies -------------------------------------------------------------------


def read_invitation(session: Session, message: Message, raw: bytes, now: datetime) -> list[Meeting]:
    """Take in the calendar invitations of a stored inbound reply; never raises.

    A new invitation becomes a PROPOSED meeting for the user to confirm. The same
    UID again (an update) changes that meeting rather than adding one; METHOD:CANCEL
    cancels it. A calendar that cannot be read leaves a note on the timeline.
    """
    if message.outreach_id is None or message.contact_id is None:
        return []
    try:
        if not calendar_parts(raw):
            return []  # most replies: no savepoint, no second look
    except Exception:  # noqa: BLE001 - a message too broken to walk has no calendar we can use
        return []
    try:
        with session.begin_nested():
            return _read_invitation(session, message, raw, now)
    except Exception as error:  # noqa: BLE001 - hostile input must not stop the poller
        log.warning("invitation in message %s not taken in: %r", message.id, error)
        problem = str(error) if isinstance(error, InvitationError) else "it could not be read"
        note_message(
            session,
            message,
            "invitation:unreadable",
            f"the reply carries a calendar invitation, but {problem}; record the meeting yourself",
            now,
        )
        return []


def _read_invitation(
    session: Session, message: Message, raw: bytes, now: datetime
) -> list[Meeting]:
    user = session.get(User, message.user_id)
    time_zone = user.time_zone if user else "UTC"
    meetings: list[Meeting] = []
    for invitation in invitations_in(raw, time_zone):
        # Only the contact who sent an invitation can change it: a UID is no secret.
        existing = session.scalar(
            select(Meeting).where(
                Meeting.user_id == message.user_id,
                Meeting.contact_id == message.contact_id,
                Meeting.invitation_uid == invitation.uid,
            )
        )
        if invitation.cancelled:
            if existing is not None and existing.status in _OPEN:
                _cancel(session, existing, now, "the contact cancelled the invitation")
                meetings.append(existing)
            continue
        if not invitation.proposes:
            continue
        if existing is None:
            meetings.append(_propose(session, message, invitation, now, time_zone))
        else:
            meetings.append(_update_from(session, existing, message, invitation, now, time_zone))
    return meetings


def _propose(
    session: Session, message: Message, invitation: Invitation, now: datetime, time_zone: str
) -> Meeting:
    assert message.outreach_id is not None and message.contact_id is not None
    meeting = Meeting(
        user_id=message.user_id,
        outreach_id=message.outreach_id,
        contact_id=message.contact_id,
        starts_at=invitation.starts_at,
        duration_minutes=invitation.duration_minutes,
        place=invitation.place,
        status=MeetingStatus.PROPOSED,
        source="invitation",
        invitation_uid=invitation.uid,
        invitation_message_id=message.id,
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    _note(
        session,
        meeting,
        "invitation:received",
        f"invitation received for {_describe(meeting, time_zone)}: confirm it on the Meetings page",
        now,
    )
    return meeting


def _update_from(
    session: Session,
    meeting: Meeting,
    message: Message,
    invitation: Invitation,
    now: datetime,
    time_zone: str,
) -> Meeting:
    if meeting.status is MeetingStatus.HELD:
        return meeting  # the conversation happened; a late update changes nothing
    meeting.invitation_message_id = message.id
    same = (meeting.starts_at, meeting.duration_minutes, meeting.place) == (
        invitation.starts_at,
        invitation.duration_minutes,
        invitation.place,
    )
    if same and meeting.status is not MeetingStatus.CANCELLED:
        return meeting  # sent again (a guest added, a description edited): nothing to do
    if meeting.status is MeetingStatus.CANCELLED:
        # Invited again after a cancellation: a new proposal to confirm.
        meeting.status = MeetingStatus.PROPOSED
        meeting.confirmation_drafted_at = None
    _move(
        session,
        meeting,
        MeetingDetails(invitation.starts_at, invitation.duration_minutes, invitation.place),
    )
    _note(
        session,
        meeting,
        "invitation:updated",
        f"the invitation was updated: now {_describe(meeting, time_zone)}",
        now,
    )
    return meeting


# --- notes and referrals ----------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingNotes:
    learned: str = ""
    specific_detail: str = ""
    answers: Mapping[str, str] = field(default_factory=dict)


def answers_of(meeting: Meeting) -> dict[str, str]:
    """The standard questions' answers, every key present (empty when not answered)."""
    try:
        stored = json.loads(meeting.answers_json or "{}")
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    return {key: str(stored.get(key, "") or "") for key in QUESTION_KEYS}


def _text(value: str, what: str) -> str:
    clean = value.replace("\r\n", "\n").strip()
    if len(clean) > MAX_NOTE:
        raise ValidationError(f"{what} is too long ({MAX_NOTE:,} characters at most)")
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
    unknown = set(notes.answers) - set(QUESTION_KEYS)
    if unknown:
        raise ValidationError(f"there is no question called '{sorted(unknown)[0]}'")
    meeting.learned = _text(notes.learned, "what you learned")
    detail = one_line(notes.specific_detail)
    if len(detail) > 500:
        raise ValidationError("the specific detail is too long (500 characters at most)")
    meeting.specific_detail = detail
    answers = {key: _text(notes.answers.get(key, ""), "an answer") for key in QUESTION_KEYS}
    meeting.answers_json = json.dumps(
        {key: value for key, value in answers.items() if value}, ensure_ascii=False
    )
    _note(session, meeting, "meeting:notes", "meeting notes saved", now)
    draft = _thank_you_draft(session, meeting)
    if draft is not None and not _edited_by_hand(session, draft):
        _render_into(session, user, meeting, draft, MessageKind.THANK_YOU)
        if draft.error is None:
            note_message(session, draft, "draft_updated", "thank-you written from your notes", now)
            maybe_auto_approve(session, user, draft, now)
    return meeting


def _thank_you_draft(session: Session, meeting: Meeting) -> Message | None:
    return session.scalar(
        select(Message)
        .where(
            Message.outreach_id == meeting.outreach_id,
            Message.kind == MessageKind.THANK_YOU,
            Message.status == MessageStatus.DRAFT,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


def _edited_by_hand(session: Session, draft: Message) -> bool:
    return (
        session.scalar(
            select(Event.id)
            .where(Event.message_id == draft.id, Event.kind == "draft_edited")
            .limit(1)
        )
        is not None
    )


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


def referrals_of(session: Session, user: User, contact_id: int) -> list[Contact]:
    """The people `contact_id` suggested, by name."""
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.user_id == user.id, Contact.referred_by_id == contact_id)
            .order_by(Contact.name)
        )
    )


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
    none. With `add_to_list`, the person joins the end of the meeting's target list
    (the caller then fills the pipeline, which drafts their request in turn).

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: for a missing name or a bad address.
    """
    meeting = get_meeting(session, user, meeting_id)
    referrer = get_contact(session, user, meeting.contact_id)
    email = normalise_email(referral.email)
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
    _note(session, meeting, "meeting:referral", f"suggested {contact.name} ({said})", now)
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


# --- drafting ---------------------------------------------------------------------------------


def _render_into(
    session: Session, user: User, meeting: Meeting, draft: Message, kind: MessageKind
) -> None:
    contact = session.get(Contact, meeting.contact_id)
    outreach = session.get(Outreach, meeting.outreach_id)
    assert contact is not None and outreach is not None
    target = session.get(Target, outreach.target_id)
    values = values_for(user, contact, target) | _meeting_values(meeting, user.time_zone)
    subject_source, body_source = template_for(session, user, kind)
    try:
        rendered = templates.render(subject_source, body_source, values, contact.name)
        draft.subject, draft.body_text, draft.error = rendered.subject, rendered.body, None
    except MissingVariable as problem:
        draft.subject, draft.body_text = one_line(subject_source), body_source
        draft.error = (
            "write something specific from the conversation in your meeting notes first"
            if problem.variable == "specific_detail"
            else str(problem)
        )
    except TemplateError as problem:
        draft.subject, draft.body_text, draft.error = (
            one_line(subject_source),
            body_source,
            str(problem),
        )


def _draft(
    session: Session,
    user: User,
    meeting: Meeting,
    kind: MessageKind,
    now: datetime,
    detail: str,
) -> Message:
    contact = session.get(Contact, meeting.contact_id)
    assert contact is not None
    draft = Message(
        user_id=user.id,
        contact_id=contact.id,
        outreach_id=meeting.outreach_id,
        direction=Direction.OUTBOUND,
        kind=kind,
        status=MessageStatus.DRAFT,
        to_address=contact.email,
        created_at=now,
    )
    _render_into(session, user, meeting, draft, kind)
    session.add(draft)
    session.flush()
    note_message(session, draft, "drafted", detail, now)
    maybe_auto_approve(session, user, draft, now)
    return draft


def draft_thank_you(session: Session, user: User, meeting: Meeting, now: datetime) -> Message:
    """The thank-you for a held meeting; approvable once the notes say something specific."""
    return _draft(session, user, meeting, MessageKind.THANK_YOU, now, "thank-you drafted")


# --- time-based steps -------------------------------------------------------------------------


def confirmation_due_at(meeting: Meeting, time_zone: str) -> datetime:
    """The same wall-clock time the day before, in the user's zone."""
    local = meeting.starts_at.astimezone(zone_of(time_zone))
    return (local - timedelta(days=1)).astimezone(UTC)


def _claimed(session: Session, statement: Update) -> bool:
    """Run a compare-and-set update; True when this caller won the row."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


def _confirmations(session: Session, now: datetime) -> list[str]:
    done: list[str] = []
    candidates = session.scalars(
        select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.confirmation_drafted_at.is_(None),
            Meeting.starts_at > now,
            # Nothing due more than a day and a bit ahead (the zone's DST shift included).
            Meeting.starts_at <= now + timedelta(hours=26),
        )
    ).all()
    for meeting in candidates:
        user = session.get(User, meeting.user_id)
        assert user is not None
        due = confirmation_due_at(meeting, user.time_zone)
        # Agreed less than a day ahead: it was just arranged, a confirmation would only echo it.
        if now < due or meeting.created_at > due:
            continue
        claim = (
            update(Meeting)
            .where(
                Meeting.id == meeting.id,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.confirmation_drafted_at.is_(None),
            )
            .values(confirmation_drafted_at=now)
        )
        if not _claimed(session, claim):
            continue
        contact = session.get(Contact, meeting.contact_id)
        if contact is not None and contact.do_not_contact:
            continue
        draft = _draft(
            session,
            user,
            meeting,
            MessageKind.CONFIRMATION,
            now,
            "confirmation drafted for tomorrow's meeting",
        )
        done.append(f"meeting {meeting.id}: confirmation drafted (message {draft.id})")
    return done


def _held(session: Session, now: datetime) -> list[str]:
    done: list[str] = []
    candidates = session.scalars(
        select(Meeting).where(Meeting.status == MeetingStatus.SCHEDULED, Meeting.starts_at < now)
    ).all()
    for meeting in candidates:
        end = ends_at(meeting)
        if end > now:
            continue
        claim = (
            update(Meeting)
            .where(Meeting.id == meeting.id, Meeting.status == MeetingStatus.SCHEDULED)
            .values(status=MeetingStatus.HELD, held_at=now, thank_you_due_at=end + THANK_YOU_WITHIN)
        )
        if not _claimed(session, claim):
            continue
        session.refresh(meeting)
        user = session.get(User, meeting.user_id)
        outreach = session.get(Outreach, meeting.outreach_id)
        assert user is not None and outreach is not None
        if can_apply(outreach.state, Trigger.MEETING_HELD):
            advance(
                session,
                outreach,
                Trigger.MEETING_HELD,
                now,
                "met: write your notes and a thank-you",
            )
        _cancel_unsent(session, meeting, MessageKind.CONFIRMATION)
        draft = draft_thank_you(session, user, meeting, now)
        done.append(f"meeting {meeting.id}: held; thank-you drafted (message {draft.id})")
    return done


def _keep_in_touch(session: Session, now: datetime) -> list[str]:
    done: list[str] = []
    candidates = session.scalars(
        select(Outreach).where(
            Outreach.state == OutreachState.THANKED,
            Outreach.keep_in_touch_at.is_not(None),
            Outreach.keep_in_touch_at <= now,
        )
    ).all()
    for outreach in candidates:
        claim = (
            update(Outreach)
            .where(
                Outreach.id == outreach.id, Outreach.keep_in_touch_at == outreach.keep_in_touch_at
            )
            .values(keep_in_touch_at=None)
        )
        if not _claimed(session, claim):
            continue
        meeting = session.scalar(
            select(Meeting)
            .where(Meeting.outreach_id == outreach.id, Meeting.status == MeetingStatus.HELD)
            .order_by(Meeting.starts_at.desc())
            .limit(1)
        )
        user = session.get(User, outreach.user_id)
        contact = session.get(Contact, outreach.contact_id)
        assert user is not None and contact is not None
        if meeting is None or contact.do_not_contact:
            continue
        draft = _draft(
            session,
            user,
            meeting,
            MessageKind.KEEP_IN_TOUCH,
            now,
            "keep-in-touch update drafted: add your news before approving",
        )
        done.append(f"outreach {outreach.id}: keep-in-touch update drafted (message {draft.id})")
    return done


def run_due(session: Session, now: datetime) -> list[str]:
    """Take every meeting step that is due at `now`; return one line per step taken.

    The day before a scheduled meeting, a confirmation is drafted; after its end
    the meeting is held, the contact "met", and the thank-you drafted; when the
    keep-in-touch day comes, a short update is drafted. Each is claimed by a
    compare-and-set on its row, so a second run, or a second worker, takes none again.
    """
    return [*_confirmations(session, now), *_held(session, now), *_keep_in_touch(session, now)]


# --- interview records ------------------------------------------------------------------------


@dataclass(frozen=True)
class InterviewRecord:
    meeting: Meeting
    contact: Contact
    target_name: str
    answers: dict[str, str]
    referrals: list[Contact]


def interview_record(session: Session, user: User, meeting_id: int) -> InterviewRecord:
    """Everything about one interview, for its notes and printable pages.

    :raise NotFound: when the meeting is not the user's.
    """
    return _record_of(session, user, get_meeting(session, user, meeting_id))


def _record_of(session: Session, user: User, meeting: Meeting) -> InterviewRecord:
    contact = get_contact(session, user, meeting.contact_id)
    outreach = session.get(Outreach, meeting.outreach_id)
    target = session.get(Target, outreach.target_id) if outreach else None
    return InterviewRecord(
        meeting=meeting,
        contact=contact,
        target_name=target.name if target else "",
        answers=answers_of(meeting),
        referrals=referrals_of(session, user, contact.id),
    )


def interview_records(session: Session, user: User) -> list[InterviewRecord]:
    """Every meeting held or with notes, oldest first."""
    return [
        _record_of(session, user, meeting)
        for meeting in list_meetings(session, user)
        if meeting.status is MeetingStatus.HELD
        or (meeting.status is not MeetingStatus.CANCELLED and _has_notes(meeting))
    ]


def _has_notes(meeting: Meeting) -> bool:
    return bool(meeting.learned or meeting.specific_detail or any(answers_of(meeting).values()))


CSV_COLUMNS: tuple[str, ...] = (
    "name",
    "email",
    "role",
    "organisation",
    "target",
    "date",
    "time",
    "time_zone",
    "duration_minutes",
    "status",
    "learned",
    *QUESTION_KEYS,
    "specific_detail",
    "referrals",
)


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with =, +, - or @ as a formula: notes are
    # the user's, but names and answers may quote a stranger's email.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(records: Sequence[InterviewRecord], time_zone: str) -> str:
    """The interview records as CSV text, one row per interview."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in records:
        here = item.meeting.starts_at.astimezone(zone_of(time_zone))
        row = [
            item.contact.name,
            item.contact.email,
            item.contact.role,
            item.contact.organisation,
            item.target_name,
            here.date().isoformat(),
            f"{here:%H:%M}",
            time_zone or "UTC",
            str(item.meeting.duration_minutes),
            item.meeting.status.value,
            item.meeting.learned,
            *(item.answers[key] for key in QUESTION_KEYS),
            item.meeting.specific_detail,
            "; ".join(f"{person.name} <{person.email}>" for person in item.referrals),
        ]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
