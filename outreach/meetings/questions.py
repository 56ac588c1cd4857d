"""The questions of an informational interview: the standard nine and the user's own.

The nine are the course guide's assignment questions; the other guides ask the
same things in other words. A meeting's own list (outreach.meetings.preparation)
starts as these nine, in this order, and is stored only once the user changes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from outreach.models.meetings import Meeting

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

STANDARD_TEXT: dict[str, str] = dict(QUESTIONS)
PAY_QUESTION = "entry_pay"
# One guide says not to talk about compensation at all; the course guide asks it.
PAY_CAUTION = (
    "Some advisers say not to raise pay in an informational interview; "
    "if you ask, ask about the field, not about a job here."
)


@dataclass(frozen=True)
class Question:
    # A standard question's key, or "own-<hex>" for one the user wrote.
    id: str
    text: str
    caution: str = ""

    @property
    def standard(self) -> bool:
        return self.id in STANDARD_TEXT


def question_of(entry_id: str, text: str = "") -> Question:
    """The question of a standard key, or an own question with its text."""
    if entry_id in STANDARD_TEXT:
        caution = PAY_CAUTION if entry_id == PAY_QUESTION else ""
        return Question(entry_id, STANDARD_TEXT[entry_id], caution)
    return Question(entry_id, text)


def questions_of(meeting: Meeting) -> list[Question]:
    """The questions to ask, in the user's order (the standard nine until changed)."""
    if meeting.questions_json is None:
        return [question_of(key) for key, _ in QUESTIONS]
    try:
        stored = json.loads(meeting.questions_json)
    except ValueError:
        stored = None
    if not isinstance(stored, list):
        return [question_of(key) for key, _ in QUESTIONS]
    questions: list[Question] = []
    for entry in stored:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        entry_id = entry["id"]
        if entry_id in STANDARD_TEXT:
            questions.append(question_of(entry_id))
        elif entry_id.startswith("own-") and isinstance(entry.get("text"), str):
            questions.append(question_of(entry_id, entry["text"]))
    return questions
