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
from wtforms.validators import DataRequired, InputRequired, NumberRange

from outreach.meetings import MAX_DURATION_MINUTES, QUESTIONS
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


class ReferralForm(PlainTextForm):
    name = StringField("Name", validators=[DataRequired("Give the person's name."), at_most(200)])
    # Required for a real person; in the sandbox the person gets a pretend address
    # (outreach.meetings.notes says so when the address is missing).
    email = StringField("Email address", validators=[at_most(320)])
    role = StringField("Role", validators=[at_most(200)])
    organisation = StringField("Organisation", validators=[at_most(200)])
    add_to_list = BooleanField("Add them to the end of this target's list", default=True)
