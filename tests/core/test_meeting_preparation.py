"""Before and after a meeting: the preparation (research, questions in order, checklist) and
the reflection in the notes, exported; nobody else's meeting can be prepared."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.meetings import MeetingNotes, PreparationChange, Reflection, Step
from outreach.meetings.preparation import MAX_QUESTIONS, ChecklistItem
from outreach.meetings.questions import PAY_QUESTION
from outreach.models import Meeting
from tests.core.test_meetings import Conversation, conversation, held, schedule

STANDARD_ORDER = [key for key, _ in meetings.QUESTIONS]


@pytest.fixture
def talk(session: Session, secret_box: SecretBox, now: datetime) -> Conversation:
    return conversation(session, secret_box, now)


@pytest.fixture
def meeting(session: Session, talk: Conversation, now: datetime) -> Meeting:
    return schedule(session, talk, now)


def ids(session: Session, talk: Conversation, meeting_id: int) -> list[str]:
    prepared = meetings.preparation_of(session, talk.user, meeting_id)
    return [question.id for question in prepared.questions]


def save(session: Session, talk: Conversation, meeting: Meeting, **change: object) -> None:
    meetings.save_preparation(
        session,
        talk.user,
        meeting.id,
        PreparationChange(**change),  # type: ignore[arg-type]
    )
    session.commit()


def test_a_new_meeting_starts_with_the_nine_standard_questions_and_nothing_ticked(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    prepared = meetings.preparation_of(session, talk.user, meeting.id)

    assert [q.id for q in prepared.questions] == STANDARD_ORDER
    assert prepared.questions[0].text == "What is a typical day like?"
    assert prepared.removed == []
    # Only the pay question carries the advisers' caution.
    cautioned = [q.id for q in prepared.questions if q.caution]
    assert cautioned == [PAY_QUESTION]
    assert "not to raise pay" in prepared.questions[STANDARD_ORDER.index(PAY_QUESTION)].caution
    assert [item.key for item in prepared.checklist] == list(ChecklistItem)
    assert prepared.ticked == 0
    # The checklist speaks of this meeting's own length.
    assert any("the 30 minutes you asked for" in item.text for item in prepared.checklist)


def test_research_ticks_and_an_own_question_are_kept(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    save(
        session,
        talk,
        meeting,
        purpose="How policy people started out",
        research_person="Wrote the 2025 report on river quality.\r\nSpoke at the alumni day.",
        research_organisation="A charity of 40 people.",
        ticked=frozenset({"early", "names", "not-an-item"}),
        new_question="  How did you move from research into policy?  ",
    )

    session.expire_all()
    prepared = meetings.preparation_of(session, talk.user, meeting.id)
    assert prepared.meeting.purpose == "How policy people started out"
    assert prepared.meeting.research_person == (
        "Wrote the 2025 report on river quality.\nSpoke at the alumni day."
    )
    assert prepared.meeting.research_organisation == "A charity of 40 people."
    assert {item.key for item in prepared.checklist if item.ticked} == {
        ChecklistItem.EARLY,
        ChecklistItem.NAMES,
    }
    own = prepared.questions[-1]
    assert own.text == "How did you move from research into policy?"
    assert own.id.startswith("own-") and not own.standard
    assert [q.id for q in prepared.questions[:-1]] == STANDARD_ORDER


def test_questions_move_up_and_down_and_stop_at_the_ends(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    save(session, talk, meeting, new_question="What surprised you most?")
    own = ids(session, talk, meeting.id)[-1]

    save(session, talk, meeting, step=Step.UP, step_question=own)
    assert ids(session, talk, meeting.id)[-2:] == [own, "advice"]

    save(session, talk, meeting, step=Step.UP, step_question="typical_day")
    assert ids(session, talk, meeting.id)[0] == "typical_day"

    save(session, talk, meeting, step=Step.DOWN, step_question="typical_day")
    assert ids(session, talk, meeting.id)[:2] == ["working_conditions", "typical_day"]

    save(session, talk, meeting, step=Step.DOWN, step_question="advice")
    assert ids(session, talk, meeting.id)[-1] == "advice"


def test_a_question_removed_is_gone_and_a_standard_one_can_be_put_back(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    save(session, talk, meeting, step=Step.REMOVE, step_question=PAY_QUESTION)

    prepared = meetings.preparation_of(session, talk.user, meeting.id)
    assert PAY_QUESTION not in [q.id for q in prepared.questions]
    assert [q.id for q in prepared.removed] == [PAY_QUESTION]
    # A second press of the same button (an old page) changes nothing.
    save(session, talk, meeting, step=Step.REMOVE, step_question=PAY_QUESTION)
    assert len(ids(session, talk, meeting.id)) == 8

    save(session, talk, meeting, step=Step.RESTORE, step_question=PAY_QUESTION)
    assert ids(session, talk, meeting.id)[-1] == PAY_QUESTION
    save(session, talk, meeting, step=Step.RESTORE, step_question=PAY_QUESTION)
    assert ids(session, talk, meeting.id).count(PAY_QUESTION) == 1

    # Every question can go, and the list stays empty rather than coming back.
    for question in ids(session, talk, meeting.id):
        save(session, talk, meeting, step=Step.REMOVE, step_question=question)
    assert ids(session, talk, meeting.id) == []


def test_a_dragged_order_is_taken_only_when_it_names_every_question_once(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    reversed_order = tuple(reversed(STANDARD_ORDER))
    save(session, talk, meeting, order=reversed_order)
    assert ids(session, talk, meeting.id) == list(reversed_order)

    for wrong in (reversed_order[:-1], (*reversed_order, "advice"), ("own-nothing",)):
        save(session, talk, meeting, order=wrong)
        assert ids(session, talk, meeting.id) == list(reversed_order)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"research_person": "x" * 4_001}, "too long (4,000 characters at most)"),
        ({"purpose": "y" * 301}, "too long (300 characters at most)"),
        ({"new_question": "z" * 301}, "too long (300 characters at most)"),
        ({"research_organisation": "nul \x00 here"}, "a NUL (U+0000)"),
        ({"purpose": "two\nlines"}, "a line break"),
        ({"new_question": "bell \x07"}, "U+0007"),
    ],
)
def test_text_too_long_or_with_control_characters_is_refused(
    session: Session,
    talk: Conversation,
    meeting: Meeting,
    change: dict[str, str],
    said: str,
) -> None:
    with pytest.raises(ValidationError, match=re.escape(said)):
        meetings.save_preparation(
            session,
            talk.user,
            meeting.id,
            PreparationChange(**change),  # type: ignore[arg-type]
        )


def test_no_more_than_the_limit_of_questions(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    for n in range(MAX_QUESTIONS - len(STANDARD_ORDER)):
        save(session, talk, meeting, new_question=f"Question {n}?")
    assert len(ids(session, talk, meeting.id)) == MAX_QUESTIONS

    with pytest.raises(ValidationError, match="20 questions at most"):
        meetings.save_preparation(
            session, talk.user, meeting.id, PreparationChange(new_question="One more?")
        )


def test_another_users_meeting_cannot_be_prepared(
    session: Session, secret_box: SecretBox, now: datetime, meeting: Meeting
) -> None:
    other = conversation(session, secret_box, now)

    with pytest.raises(NotFound):
        meetings.preparation_of(session, other.user, meeting.id)
    with pytest.raises(NotFound):
        meetings.save_preparation(
            session, other.user, meeting.id, PreparationChange(research_person="Mine now")
        )
    session.rollback()
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).research_person == ""


def test_the_reflection_is_saved_with_the_notes_and_exported(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    reflection = Reflection(
        fit="Good fit: writing every day.",
        went_well="They talked for 40 minutes.",
        do_better="=Ask about training sooner",
        next_steps="Write to Rosa; read the annual report.",
    )
    meetings.save_notes(
        session, talk.user, meeting.id, MeetingNotes(learned="Lots.", reflection=reflection), now
    )
    session.commit()
    # Saving the notes without the reflection (an older caller) leaves it as it was.
    meetings.save_notes(session, talk.user, meeting.id, MeetingNotes(learned="More."), now)
    session.commit()
    session.expire_all()

    assert meetings.reflection_of(session.get_one(Meeting, meeting.id)) == reflection
    text = meetings.export_csv(meetings.interview_records(session, talk.user), "Europe/London")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["reflection_fit"] == "Good fit: writing every day."
    assert row["reflection_went_well"] == "They talked for 40 minutes."
    # A spreadsheet must not run it as a formula.
    assert row["reflection_do_better"] == "'=Ask about training sooner"
    assert row["reflection_next_steps"] == "Write to Rosa; read the annual report."


def test_a_reflection_alone_makes_an_interview_record(
    session: Session, talk: Conversation, meeting: Meeting, now: datetime
) -> None:
    assert meetings.interview_records(session, talk.user) == []

    meetings.save_notes(
        session,
        talk.user,
        meeting.id,
        MeetingNotes(reflection=Reflection(next_steps="Call back in May.")),
        now,
    )
    session.commit()

    (record,) = meetings.interview_records(session, talk.user)
    assert record.meeting.reflection_next_steps == "Call back in May."


def test_a_reflection_with_a_control_character_or_too_long_is_refused(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    with pytest.raises(ValidationError, match=re.escape("U+001B")):
        meetings.save_notes(
            session, talk.user, meeting.id, MeetingNotes(reflection=Reflection(fit="\x1b[31m")), now
        )
    session.rollback()
    with pytest.raises(ValidationError, match="5,000 characters at most"):
        meetings.save_notes(
            session,
            talk.user,
            meeting.id,
            MeetingNotes(reflection=Reflection(went_well="w" * 5_001)),
            now,
        )


def test_their_time_is_given_when_their_zone_differs_with_the_day_when_it_is_not_ours(
    session: Session, talk: Conversation, meeting: Meeting
) -> None:
    # 14:00 in London on Thursday 3 December.
    assert meetings.their_time(meeting, talk.contact, "Europe/London") == ""
    talk.contact.time_zone = "America/New_York"
    assert meetings.their_time(meeting, talk.contact, "Europe/London") == (
        "09:00 (America/New_York)"
    )
    talk.contact.time_zone = "Asia/Tokyo"
    assert meetings.their_time(meeting, talk.contact, "Europe/London") == ("23:00 (Asia/Tokyo)")
    talk.contact.time_zone = "Pacific/Auckland"
    assert meetings.their_time(meeting, talk.contact, "Europe/London") == (
        "Fri 4 Dec, 03:00 (Pacific/Auckland)"
    )


def test_own_questions_get_answers_in_the_notes_the_record_and_the_export(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    save(session, talk, meeting, new_question="Which journal do you read?")
    save(session, talk, meeting, new_question="Whom should I meet next?")
    first, second = (question for question, _ in meetings.own_answers(meeting))

    meetings.save_notes(
        session,
        talk.user,
        meeting.id,
        MeetingNotes(answers={first.id: "Nature Climate Change.", "outlook": "Good."}),
        now,
    )
    session.commit()

    assert [(q.text, answer) for q, answer in meetings.own_answers(meeting)] == [
        ("Which journal do you read?", "Nature Climate Change."),
        ("Whom should I meet next?", ""),
    ]
    (record,) = meetings.interview_records(session, talk.user)
    assert record.own_answers == meetings.own_answers(meeting)
    text = meetings.export_csv([record], "Europe/London")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["own_questions"] == "Which journal do you read? Nature Climate Change."
    assert row["outlook"] == "Good."
    # An answer to a question not on this meeting's list is refused, not stored.
    with pytest.raises(ValidationError, match="there is no question called 'own-elsewhere'"):
        meetings.save_notes(
            session, talk.user, meeting.id, MeetingNotes(answers={"own-elsewhere": "x"}), now
        )
    session.rollback()
    # Taken off the list, the question leaves the notes; its answer is kept out of sight.
    save(session, talk, meeting, step=Step.REMOVE, step_question=first.id)
    meetings.save_notes(session, talk.user, meeting.id, MeetingNotes(learned="Later."), now)
    session.commit()
    assert [q.id for q, _ in meetings.own_answers(meeting)] == [second.id]
    session.expire_all()
    assert "Nature Climate Change." in session.get_one(Meeting, meeting.id).answers_json
