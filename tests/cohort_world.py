"""A student's outreach seeded with words that must never reach an adviser's cohort report."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import (
    Direction,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.targets import create_target, fill_pipeline
from outreach.timeline import advance
from tests.factories import make_contact, make_mailbox

# Each appears somewhere in the student's contacts, mail or notes.
PRIVATE_WORDS = (
    "Quillfeather",
    "quillfeather@hushcorp.example",
    "Hushcorp",
    "Zanzibar-Curator",
    "TANGERINE-NOTE",
    "PERIWINKLE-SUBJECT",
    "MARMALADE-ZEPPELIN",
    "OBSIDIAN-LANTERN",
    "secret-reply-box.example",
)


def seed_busy_student(session: Session, student: User, box: SecretBox, now: datetime) -> None:
    """A mailbox, three requests sent ten days ago, two replies and one meeting held.

    Counts the report must show: requests_sent 3, replies 2, meetings_held 1.
    """
    make_mailbox(session, student, box)
    people = [
        make_contact(
            session,
            student,
            name="Quinn Quillfeather",
            email="quillfeather@hushcorp.example",
            organisation="Hushcorp",
            role="Zanzibar-Curator",
            notes="TANGERINE-NOTE",
        ),
        make_contact(session, student, email="ana@secret-reply-box.example", name="Ana Hush"),
        make_contact(session, student, email="ben@secret-reply-box.example", name="Ben Hush"),
    ]
    target = create_target(
        session,
        student,
        "Hushcorp curators",
        [person.id for person in people],
        max_in_flight=3,
        allow_same_organisation=True,
    )
    sent_at = now - timedelta(days=10)
    drafts = fill_pipeline(session, student, target, sent_at - timedelta(hours=1))
    assert len(drafts) == 3
    for draft in drafts:
        approve(session, student, draft.id, sent_at - timedelta(minutes=30))
        record_sent(session, draft.id, sent_at)
    outreaches = [session.get_one(Outreach, draft.outreach_id) for draft in drafts]
    met, replied = outreaches[0], outreaches[1]
    session.add(
        Message(
            user_id=student.id,
            contact_id=met.contact_id,
            outreach_id=met.id,
            direction=Direction.INBOUND,
            kind=MessageKind.REPLY,
            status=MessageStatus.RECEIVED,
            from_address="quillfeather@hushcorp.example",
            subject="Re: PERIWINKLE-SUBJECT",
            body_text="Happy to talk. MARMALADE-ZEPPELIN",
            received_at=now - timedelta(days=9),
        )
    )
    for trigger in (Trigger.REPLY_RECEIVED, Trigger.MEETING_SET, Trigger.MEETING_HELD):
        advance(session, met, trigger, now - timedelta(days=5))
    advance(session, replied, Trigger.REPLY_RECEIVED, now - timedelta(days=4))
    session.add(
        Meeting(
            user_id=student.id,
            outreach_id=met.id,
            contact_id=met.contact_id,
            starts_at=now - timedelta(days=5),
            status=MeetingStatus.HELD,
            held_at=now - timedelta(days=5),
            place="Hushcorp, 1 Quillfeather Lane",
            learned="OBSIDIAN-LANTERN",
        )
    )
    session.flush()
