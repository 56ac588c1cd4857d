"""Forms of the meetings pages; each POST form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from outreach.meetings import MAX_DURATION_MINUTES, QUESTIONS, REFLECTION_PARTS
from outreach.meetings.notes import MAX_REFLECTION
from outreach.meetings.preparation import MAX_PURPOSE, MAX_QUESTION, MAX_RESEARCH
from web.plain_form import PlainTextForm, at_most


class MeetingForm(PlainTextForm):
    # Ownership of the outreach is checked by the core; an unknown id gives a 404.
    outreach_id = SelectField("With", coerce=int, validate_choice=False)
    day = DateField("Date", validators=[InputRequired("Give the day of the meeting.")])
    start = TimeField("Time", validators=[InputRequired("Give the time the meeting starts.")])
    duration_minutes = IntegerField(
        "Length in minutes",
        default=30,
        validators=[
            InputRequired("Give the meeting's length in minutes."),
            NumberRange(min=1, max=MAX_DURATION_MINUTES),
        ],
    )
    place = TextAreaField(
        "Place or call details",
        validators=[at_most(2000)],
        description="An address, or the call's link and any phone number and code.",
    )


class NotesForm(PlainTextForm):
    learned = TextAreaField("What you learned", validators=[at_most(20_000)])
    specific_detail = StringField(
        "Something specific from the conversation",
        validators=[at_most(500)],
        description='Completes "I especially appreciated ..." in your thank-you, e.g. '
        '"your advice to write for the institute\'s blog". The thank-you needs it.',
    )


# One answer box per standard question, named answer_<key>.
for _key, _question in QUESTIONS:
    setattr(NotesForm, f"answer_{_key}", TextAreaField(_question, validators=[at_most(20_000)]))


_REFLECTION_TOO_LONG = f"Keep it to {MAX_REFLECTION:,} characters."

# One box per part of the reflection, named reflection_<part>.
for _part, _heading in REFLECTION_PARTS:
    setattr(
        NotesForm,
        f"reflection_{_part}",
        TextAreaField(
            _heading, validators=[Length(max=MAX_REFLECTION, message=_REFLECTION_TOO_LONG)]
        ),
    )


_RESEARCH_TOO_LONG = f"Keep it to {MAX_RESEARCH:,} characters: the brief is one page."


class PreparationForm(PlainTextForm):
    """The preparation page's one form; the ticks, the order and the button pressed
    are lists and choices the view reads from the request itself."""

    purpose = StringField(
        "What you want to learn from them",
        validators=[
            Length(max=MAX_PURPOSE, message=f"Say it in {MAX_PURPOSE} characters at most.")
        ],
        description="One sentence, said at the start: why this person, what you hope to learn.",
    )
    research_person = TextAreaField(
        "About the person",
        validators=[Length(max=MAX_RESEARCH, message=_RESEARCH_TOO_LONG)],
        description="Their role and path, work they published or talks they gave. "
        "Their work, not their private life.",
    )
    research_organisation = TextAreaField(
        "About the organisation",
        validators=[Length(max=MAX_RESEARCH, message=_RESEARCH_TOO_LONG)],
        description="What it does, recent news, the words and job titles of the field.",
    )
    new_question = StringField(
        "Add your own question",
        validators=[
            Length(max=MAX_QUESTION, message=f"Ask it in {MAX_QUESTION} characters at most.")
        ],
    )


class ReferralForm(PlainTextForm):
    name = StringField("Name", validators=[DataRequired("Give the person's name."), at_most(200)])
    # Required for a real person; in the sandbox the person gets a pretend address
    # (outreach.meetings.notes says so when the address is missing).
    email = StringField("Email address", validators=[at_most(320)])
    role = StringField("Role", validators=[at_most(200)])
    organisation = StringField("Organisation", validators=[at_most(200)])
    add_to_list = BooleanField("Add them to the end of this target's list", default=True)
