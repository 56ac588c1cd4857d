"""Before the conversation: research, the questions to ask in order, the guides' checklist.

The guides spend most of their words here: read about the person and the
organisation (their work, not their private life), know what you want to learn,
bring a list of questions, arrive early, restate the purpose and the time asked
for, keep to it, ask for other names and whether you may keep in touch.

The questions start as the nine standard ones (outreach.meetings.questions.QUESTIONS,
from the course guide) and the user adds, removes and reorders them. The list is
stored only once changed, so a meeting never touched follows QUESTIONS.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from outreach.contacts import get_contact
from outreach.errors import ValidationError
from outreach.meetings.finding import get_meeting
from outreach.meetings.questions import (
    QUESTIONS,
    STANDARD_TEXT,
    Question,
    question_of,
    questions_of,
)
from outreach.models.accounts import User
from outreach.models.contacts import Contact
from outreach.models.meetings import Meeting
from outreach.rules.cycle import zone_of
from outreach.rules.plain_text import refuse_control_characters

MAX_RESEARCH = 4_000
MAX_PURPOSE = 300
MAX_QUESTION = 300
# Enough for a half-hour conversation and more; the brief stays one page.
MAX_QUESTIONS = 20


class ChecklistItem(StrEnum):
    EARLY = "early"
    BRING = "bring"
    PURPOSE = "purpose"
    TIME = "time"
    NAMES = "names"
    KEEP_IN_TOUCH = "keep_in_touch"


def checklist_text(item: ChecklistItem, minutes: int) -> str:
    """The item's words for a meeting of `minutes` minutes."""
    return {
        ChecklistItem.EARLY: "Arrive, or join the call, 10 minutes early.",
        ChecklistItem.BRING: "Bring your questions, a notebook and a pen.",
        ChecklistItem.PURPOSE: (
            f"Restate why you asked to meet (information and advice, not a job) "
            f"and the {minutes} minutes you asked for."
        ),
        ChecklistItem.TIME: f"Keep to the {minutes} minutes; offer to stop when they are up.",
        ChecklistItem.NAMES: "Ask for the names of others you could talk to.",
        ChecklistItem.KEEP_IN_TOUCH: "Ask whether you may keep in touch.",
    }[item]


@dataclass(frozen=True)
class CheckItem:
    key: ChecklistItem
    text: str
    ticked: bool


@dataclass(frozen=True)
class Preparation:
    meeting: Meeting
    contact: Contact
    questions: list[Question]
    # Standard questions the user removed, which can be put back.
    removed: list[Question]
    checklist: list[CheckItem]

    @property
    def ticked(self) -> int:
        return sum(item.ticked for item in self.checklist)


class Step(StrEnum):
    UP = "up"
    DOWN = "down"
    REMOVE = "remove"
    RESTORE = "restore"


@dataclass(frozen=True)
class PreparationChange:
    """What one submit of the preparation page carries; each part is applied in turn."""

    purpose: str = ""
    research_person: str = ""
    research_organisation: str = ""
    ticked: frozenset[str] = frozenset()
    new_question: str = ""
    # The whole order (from dragging), as question ids; ignored unless it is a
    # permutation of the current list.
    order: tuple[str, ...] = ()
    step: Step | None = None
    step_question: str = ""


def ticked_of(meeting: Meeting) -> frozenset[ChecklistItem]:
    try:
        stored = json.loads(meeting.checklist_json or "[]")
    except ValueError:
        return frozenset()
    if not isinstance(stored, list):
        return frozenset()
    return frozenset(ChecklistItem(key) for key in stored if key in set(ChecklistItem))


def preparation_of(session: Session, user: User, meeting_id: int) -> Preparation:
    """Everything the preparation page and the printable brief show.

    :raise NotFound: when the meeting is not the user's.
    """
    meeting = get_meeting(session, user, meeting_id)
    contact = get_contact(session, user, meeting.contact_id)
    questions = questions_of(meeting)
    asked = {question.id for question in questions}
    ticked = ticked_of(meeting)
    return Preparation(
        meeting=meeting,
        contact=contact,
        questions=questions,
        removed=[question_of(key) for key, _ in QUESTIONS if key not in asked],
        checklist=[
            CheckItem(item, checklist_text(item, meeting.duration_minutes), item in ticked)
            for item in ChecklistItem
        ],
    )


def their_time(meeting: Meeting, contact: Contact, time_zone: str) -> str:
    """The start on the contact's clock, "10:00 (America/New_York)", with the day when it
    is not the user's day; empty when their zone is unknown or is the user's."""
    zone = contact.time_zone
    if not zone or zone == (time_zone or "UTC"):
        return ""
    theirs = meeting.starts_at.astimezone(zone_of(zone))
    mine = meeting.starts_at.astimezone(zone_of(time_zone))
    day = "" if theirs.date() == mine.date() else f"{theirs:%a} {theirs.day} {theirs:%b}, "
    return f"{day}{theirs:%H:%M} ({zone})"


def _plain(value: str, what: str, limit: int, *, multi_line: bool = False) -> str:
    clean = value.replace("\r\n", "\n").strip() if multi_line else value.strip()
    refuse_control_characters(what, clean, multi_line=multi_line)
    if len(clean) > limit:
        raise ValidationError(f"{what} is too long ({limit:,} characters at most)")
    return clean


def _moved(questions: list[Question], question_id: str, step: Step) -> list[Question]:
    ids = [question.id for question in questions]
    if question_id not in ids:
        # Already removed (a second click, an old page): nothing to do.
        return questions
    at = ids.index(question_id)
    result = list(questions)
    if step is Step.REMOVE:
        del result[at]
    elif step is Step.UP and at > 0:
        result[at - 1], result[at] = result[at], result[at - 1]
    elif step is Step.DOWN and at < len(result) - 1:
        result[at + 1], result[at] = result[at], result[at + 1]
    return result


def _reordered(questions: list[Question], order: tuple[str, ...]) -> list[Question]:
    by_id = {question.id: question for question in questions}
    if sorted(order) != sorted(by_id):
        return questions
    return [by_id[question_id] for question_id in order]


def save_preparation(
    session: Session, user: User, meeting_id: int, change: PreparationChange
) -> Meeting:
    """Keep the research, the ticks and the questions; then apply the one step asked for.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: for text too long or holding control characters, or
        a question too many.
    """
    meeting = get_meeting(session, user, meeting_id)
    meeting.purpose = _plain(change.purpose, "the purpose", MAX_PURPOSE)
    meeting.research_person = _plain(
        change.research_person, "your research on the person", MAX_RESEARCH, multi_line=True
    )
    meeting.research_organisation = _plain(
        change.research_organisation,
        "your research on the organisation",
        MAX_RESEARCH,
        multi_line=True,
    )
    meeting.checklist_json = json.dumps(
        [item.value for item in ChecklistItem if item.value in change.ticked]
    )
    before = questions_of(meeting)
    questions = list(_reordered(before, change.order))
    new_text = _plain(change.new_question, "your question", MAX_QUESTION)
    if new_text:
        if len(questions) >= MAX_QUESTIONS:
            raise ValidationError(
                f"{MAX_QUESTIONS} questions at most: remove one before adding another"
            )
        questions.append(Question(f"own-{secrets.token_hex(4)}", new_text))
    if change.step is Step.RESTORE:
        if change.step_question in STANDARD_TEXT and change.step_question not in {
            question.id for question in questions
        }:
            if len(questions) >= MAX_QUESTIONS:
                raise ValidationError(
                    f"{MAX_QUESTIONS} questions at most: remove one before putting one back"
                )
            questions.append(question_of(change.step_question))
    elif change.step is not None:
        questions = _moved(questions, change.step_question, change.step)
    if questions != before or meeting.questions_json is not None:
        meeting.questions_json = json.dumps(
            [{"id": q.id} if q.standard else {"id": q.id, "text": q.text} for q in questions],
            ensure_ascii=False,
        )
    return meeting
