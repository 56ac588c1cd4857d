"""Flask-WTF forms, one class per form; each POST form carries a CSRF token.

The forms check shape (present, a number, a choice); the core checks meaning
(a valid address, a name not taken) and says why in its own words.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    Form,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from outreach.accounts import MIN_PASSWORD_LENGTH, known_time_zones
from outreach.board import STATE_LABELS
from outreach.models import TlsMode
from web.helpers import DAY_NAMES

TLS_CHOICES = [
    SelectChoice(TlsMode.SSL.value, "SSL/TLS"),
    SelectChoice(TlsMode.STARTTLS.value, "STARTTLS"),
    SelectChoice(TlsMode.NONE.value, "None (this machine only)"),
]


def _optional_int(value: object) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


class SignupForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    email = StringField("Email address", validators=[DataRequired(), Length(max=320)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email address", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something (log out, approve, discard, test): only the token."""


class ContactForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = StringField("Email address", validators=[DataRequired(), Length(max=320)])
    first_name = StringField(
        "First name",
        validators=[Length(max=100)],
        description="How your email greets them; taken from the full name when empty.",
    )
    role = StringField("Role", validators=[Length(max=200)])
    organisation = StringField("Organisation", validators=[Length(max=200)])
    how_found = StringField(
        "How you found them",
        description='Completes "I came across your name through ...", '
        'e.g. "the alumni network" or "your talk at the policy forum".',
    )
    referred_by = SelectField("Referred by", coerce=_optional_int, validate_choice=False)
    time_zone = StringField("Time zone", validators=[Length(max=64)])
    notes = TextAreaField("Notes")
    do_not_contact = BooleanField("Do not contact")


class ImportForm(FlaskForm):  # type: ignore[misc]
    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file to import.")],
    )


class TargetForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "Field or organisation",
        validators=[DataRequired(), Length(max=200)],
        description='What you want to learn about, e.g. "Science policy".',
    )
    # Ownership of each id is checked by the core; unknown ids give a 404.
    contact_ids = SelectMultipleField("Names, in this order", coerce=int, validate_choice=False)
    max_in_flight = IntegerField(
        "Requests out at a time",
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=10)],
        description="One at a time is the polite default.",
    )
    wait_business_days = IntegerField(
        "Business days to wait before a follow-up",
        default=7,
        validators=[InputRequired(), NumberRange(min=1, max=30)],
    )


class AddNamesForm(FlaskForm):  # type: ignore[misc]
    contact_ids = SelectMultipleField(
        "Add to the end of the list", coerce=int, validate_choice=False
    )


class MailboxForm(FlaskForm):  # type: ignore[misc]
    email_address = StringField("Email address", validators=[DataRequired(), Length(max=320)])
    display_name = StringField(
        "Name shown to recipients",
        validators=[Length(max=200)],
        description="Your own name when empty.",
    )
    imap_host = StringField("IMAP server", validators=[DataRequired(), Length(max=255)])
    imap_port = IntegerField(
        "IMAP port", default=993, validators=[InputRequired(), NumberRange(1, 65535)]
    )
    imap_tls = SelectField(
        "IMAP security",
        choices=TLS_CHOICES,
        default=TlsMode.SSL.value,
        description="SSL/TLS on port 993, or STARTTLS on 143.",
    )
    smtp_host = StringField("SMTP server", validators=[DataRequired(), Length(max=255)])
    smtp_port = IntegerField(
        "SMTP port", default=587, validators=[InputRequired(), NumberRange(1, 65535)]
    )
    smtp_tls = SelectField(
        "SMTP security",
        choices=TLS_CHOICES,
        default=TlsMode.STARTTLS.value,
        description="STARTTLS on port 587, or SSL/TLS on 465.",
    )
    username = StringField(
        "User name",
        validators=[Length(max=320)],
        description="Usually the email address; used when empty.",
    )
    # PasswordField never renders its value back into the page.
    password = PasswordField(
        "Password or app password",
        validators=[DataRequired()],
        description="Stored encrypted. Gmail, iCloud, Yahoo and Fastmail need an app password.",
    )


class DraftForm(FlaskForm):  # type: ignore[misc]
    subject = StringField("Subject", validators=[DataRequired()])
    body = TextAreaField("Message", validators=[DataRequired()])


class TemplateForm(FlaskForm):  # type: ignore[misc]
    """One kind of message's template; "Preview" and "Save" both post it."""

    subject = StringField("Subject", validators=[DataRequired("Write a subject.")])
    body = TextAreaField("Message", validators=[DataRequired("Write the message.")])
    # Ownership is checked by the core: another user's contact gives a 404.
    contact_id = SelectField("Preview for", coerce=_optional_int, validate_choice=False)


class ApproveSelectionForm(FlaskForm):  # type: ignore[misc]
    message_ids = SelectMultipleField(coerce=int, validate_choice=False)


class ProfileForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    introduction = TextAreaField(
        "Your 30-second introduction",
        description="Two or three sentences: who you are, what you study or do, and what you "
        "are curious about. Every request quotes it.",
    )
    signature = TextAreaField("Signature", description="How your emails end.")
    # Checked by the core, which says why in a sentence; a hand-made value is no crash.
    time_zone = SelectField(
        "Your time zone",
        validate_choice=False,
        description="Your sending hours and every time in the outbox are in this zone.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone.choices = time_zone_choices()


def time_zone_choices() -> list[SelectChoice]:
    return [SelectChoice(name, name) for name in sorted(known_time_zones())]


class PaceForm(FlaskForm):  # type: ignore[misc]
    """One mailbox's pace; built with prefix "pace-<id>" so each mailbox has its own."""

    daily_cap = IntegerField(
        "Messages a day, at most",
        validators=[InputRequired("Give the daily cap as a number, from 1 to 500.")],
    )
    days = SelectMultipleField(
        "Sending days",
        choices=[SelectChoice(str(number), name) for number, name in enumerate(DAY_NAMES)],
        coerce=int,
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    start_hour = IntegerField(
        "From (hour)",
        validators=[InputRequired("Give the first sending hour as a number, from 0 to 23.")],
    )
    end_hour = IntegerField(
        "Until (hour)",
        validators=[InputRequired("Give the last sending hour as a number, from 1 to 24.")],
        description="24 is midnight, the end of the day.",
    )
    min_gap = IntegerField(
        "Shortest gap (minutes)",
        validators=[InputRequired("Give the shortest gap in minutes, from 0 to 120.")],
    )
    max_gap = IntegerField(
        "Longest gap (minutes)",
        validators=[InputRequired("Give the longest gap in minutes, from 0 to 120.")],
    )


class BoardFilterForm(Form):  # type: ignore[misc]
    """The status board's filter, read from the query string (a GET: no token)."""

    target = SelectField("Target", coerce=_optional_int, validate_choice=False)
    state = SelectField(
        "State",
        choices=[SelectChoice("", "Any state")]
        + [SelectChoice(state.value, label) for state, label in STATE_LABELS.items()],
        validate_choice=False,
    )
