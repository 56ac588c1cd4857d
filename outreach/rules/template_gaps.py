"""What a draft is missing, said in words: never template code in front of a person.

When a template needs a value the contact or the user has not given (a LinkedIn
export has no "how you found them"), the draft is written all the same with the
gap in words where the value goes ("[how you found Dana]"), and it keeps the
variable names it needs. The drafts page asks for the values a contact can hold
(QUESTIONS) right there; the others are said in words with where to give them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# What each missing value is, in words; {first} is the contact's first name, {full} the full one.
_WORDS: dict[str, str] = {
    "first_name": "the first name of {full}",
    "full_name": "the name of this person",
    "role": "{first}'s role",
    "organisation": "where {first} works",
    "how_found": "how you found {first}",
    "referrer_name": "who suggested you write to {first}",
    "my_name": "your name",
    "my_introduction": "your 30-second introduction",
    "my_signature": "your signature",
    "field": "the field you want to learn about",
    "target": "the field you want to learn about",
    "why_you": "why you are writing to {first} in particular",
    "meeting_date": "the day of your meeting",
    "meeting_time": "the time of your meeting",
    "meeting_place": "where you meet",
    "specific_detail": "something specific from your conversation",
    "update": "your news: what you did with {first}'s advice",
}


@dataclass(frozen=True)
class Question:
    """A missing value the drafts page asks for, saved on the contact."""

    name: str  # the template variable, which is also the contact's field when on_contact
    words: str  # "how you found Dana"
    label: str  # "How did you find Dana?"
    example: str
    max_length: int
    # Saved on the contact for later messages too; else written into this draft only.
    on_contact: bool = True
    multi_line: bool = False


# The values a contact holds, asked for on the drafts page: (label, example, longest).
# The lengths are the contacts table's (how_found is Text: one sentence is plenty).
_QUESTIONS: dict[str, tuple[str, str, int]] = {
    "how_found": (
        "How did you find {first}?",
        "For example: the alumni network on LinkedIn, your talk at the careers fair",
        300,
    ),
    "role": ("What is {first}'s role?", "For example: Policy adviser", 200),
    "organisation": ("Where does {first} work?", "For example: the Royal Society", 200),
    "first_name": ("What is {full}'s first name?", "The name you greet them by", 100),
}
ASKED_ON_CONTACT = frozenset(_QUESTIONS)

# The values only the user can tell, for one message: asked on the draft, written into it.
# A keep-in-touch note is worth sending only with news (the guides), so it waits for it.
_DRAFT_QUESTIONS: dict[str, tuple[str, str, int]] = {
    "update": (
        "What have you done with {first}'s advice since you met?",
        "For example: I applied for the trainee scheme you mentioned and start in January",
        2000,
    ),
}


def _names(first_name: str, full_name: str) -> dict[str, str]:
    full = full_name.strip() or "this person"
    return {"first": first_name.strip() or full, "full": full}


def words_for(name: str, first_name: str, full_name: str) -> str:
    """The missing value `name` in words: "how you found Dana"."""
    template = _WORDS.get(name, "a value for “" + name.replace("_", " ") + "”")
    return template.format(**_names(first_name, full_name))


def gap_text(name: str, first_name: str, full_name: str) -> str:
    """What a draft shows where the value goes, until it is given."""
    return f"[{words_for(name, first_name, full_name)}]"


def needs_sentence(names: Sequence[str], first_name: str, full_name: str) -> str:
    """The problem written on a draft: "it needs how you found Dana and Dana's role"."""
    words = [words_for(name, first_name, full_name) for name in names]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"it needs {listed}"


def questions(names: Sequence[str], first_name: str, full_name: str) -> list[Question]:
    """The fields to ask for, of the missing `names`, in their order."""
    found = _names(first_name, full_name)
    asked: list[Question] = []
    for name in names:
        on_contact = name in _QUESTIONS
        if not on_contact and name not in _DRAFT_QUESTIONS:
            continue
        label, example, longest = (_QUESTIONS if on_contact else _DRAFT_QUESTIONS)[name]
        asked.append(
            Question(
                name,
                words_for(name, first_name, full_name),
                label.format(**found),
                example,
                longest,
                on_contact=on_contact,
                multi_line=not on_contact,
            )
        )
    return asked
