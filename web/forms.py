"""Flask-WTF forms, one class per form; each POST form carries a CSRF token.

The forms check shape (present, a number, a choice); the core checks meaning
(a valid address, a name not taken) and says why in its own words.
"""

from __future__ import annotations

from dataclasses import fields

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
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)
from wtforms.widgets import CheckboxInput, ListWidget

from outreach.accounts import (
    MAX_MONTHLY_GOAL,
    MIN_PASSWORD_LENGTH,
    MailboxSettings,
    auto_approvable_kinds,
    check_holidays,
    check_time_zone,
    known_time_zones,
)
from outreach.board import STATE_LABELS
from outreach.errors import ValidationError as CoreValidationError
from outreach.mail import MailServer, MailServers
from outreach.models import MessageKind, TlsMode
from outreach.rules.field_phrase import MAX_LENGTH as MAX_FIELD_PHRASE
from outreach.rules.free_times import check_free_times
from outreach.rules.plain_text import (
    MAX_ADDRESS,
    MAX_BODY,
    MAX_INTRODUCTION,
    MAX_NAME,
    MAX_PASSWORD,
    MAX_SIGNATURE,
    MAX_SUBJECT,
)
from outreach.targets import MAX_IN_FLIGHT_LIMIT, MAX_WAIT_BUSINESS_DAYS
from web.helpers import DAY_NAMES, sentence
from web.plain_form import PlainTextForm, at_most

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


class SignupForm(PlainTextForm):
    name = StringField("Your name", validators=[DataRequired(), at_most(MAX_NAME)])
    email = StringField("Email address", validators=[DataRequired(), at_most(MAX_ADDRESS)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH), at_most(MAX_PASSWORD)],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    # The token of an invitation link (OUTREACH_SIGNUP=invite).
    invite = HiddenField()
    # The browser's time zone, filled by static/timezone.js; the core keeps UTC for one
    # it does not know (no error: the person never saw the field).
    time_zone = HiddenField()


class LoginForm(PlainTextForm):
    email = StringField("Email address", validators=[DataRequired(), at_most(MAX_ADDRESS)])
    password = PasswordField("Password", validators=[DataRequired(), at_most(MAX_PASSWORD)])
    next = HiddenField()


class ActionForm(PlainTextForm):
    """A button that changes something (log out, approve, discard, test): only the token."""


class ContactForm(PlainTextForm):
    # The limits are outreach.contacts.MAX_LENGTHS; the core checks them again.
    name = StringField("Full name", validators=[DataRequired(), at_most(200)])
    email = StringField("Email address", validators=[DataRequired(), at_most(320)])
    first_name = StringField(
        "First name",
        validators=[at_most(100)],
        description="How your email greets them; taken from the full name when empty.",
    )
    role = StringField("Role", validators=[at_most(200)])
    organisation = StringField("Organisation", validators=[at_most(200)])
    how_found = StringField(
        "How you found them",
        validators=[at_most(500)],
        description='Completes "I came across your name through ...", '
        'e.g. "the alumni network" or "your talk at the policy forum".',
    )
    why_you = StringField(
        "Why them in particular (optional)",
        validators=[at_most(500)],
        description='Completes "I am writing to you in particular because ...", e.g. '
        '"you moved into policy from a science degree, as I hope to". A reason that is '
        "about this one person (their role, a talk, an article) makes a reply far likelier "
        "than a request that could have gone to anyone.",
    )
    referred_by = SelectField("Referred by", coerce=_optional_int, validate_choice=False)
    time_zone = StringField(
        "Time zone",
        validators=[at_most(64)],
        description="Where they live: a meeting confirmation then gives the time in their "
        "zone as well as yours.",
    )
    notes = TextAreaField("Notes", validators=[at_most(5000)])
    do_not_contact = BooleanField("Do not contact")


class MergeForm(PlainTextForm):
    """The other record of the same person, folded into the one whose page this is."""

    other = SelectField(
        "The other record",
        coerce=_optional_int,
        validate_choice=False,
        validators=[InputRequired("Choose the other record of this person.")],
    )


class ImportForm(PlainTextForm):
    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file to import.")],
    )


IN_FLIGHT_MESSAGE = f"Give a number of requests from 1 to {MAX_IN_FLIGHT_LIMIT}."
WAIT_MESSAGE = f"Give a number of business days from 1 to {MAX_WAIT_BUSINESS_DAYS}."


def _in_flight_field() -> IntegerField:
    return IntegerField(
        "Requests out at a time",
        default=1,
        validators=[
            InputRequired(IN_FLIGHT_MESSAGE),
            NumberRange(1, MAX_IN_FLIGHT_LIMIT, IN_FLIGHT_MESSAGE),
        ],
        description="One at a time is the polite default: the next name is asked only "
        "when the last one has answered or the wait is over.",
    )


def _wait_field() -> IntegerField:
    return IntegerField(
        "Business days to wait before a follow-up",
        default=5,
        validators=[
            InputRequired(WAIT_MESSAGE),
            NumberRange(1, MAX_WAIT_BUSINESS_DAYS, WAIT_MESSAGE),
        ],
        description="Weekends and your holidays do not count. Five is usual.",
    )


class TargetForm(PlainTextForm):
    name = StringField(
        "Name of this list",
        validators=[DataRequired(), at_most(MAX_NAME)],
        description='For you alone, e.g. "Museums (London list)". It never appears in an email.',
    )
    field_phrase = StringField(
        "The field, as your emails say it",
        validators=[
            DataRequired("Say in a few words what the field is, as it reads in a sentence."),
            at_most(MAX_FIELD_PHRASE),
        ],
        description='The words that finish "Could I ask your advice about ...?", in lower '
        'case unless they are a name: "museum education", "science policy", "the work of '
        'the British Museum". Every email to this list uses them.',
    )
    # Ownership of each id is checked by the core; unknown ids give a 404.
    contact_ids = SelectMultipleField("Names, in this order", coerce=int, validate_choice=False)
    max_in_flight = _in_flight_field()
    wait_business_days = _wait_field()


class TargetSettingsForm(PlainTextForm):
    """How a target's cycle runs; the defaults are the etiquette's."""

    max_in_flight = _in_flight_field()
    wait_business_days = _wait_field()
    send_follow_up = BooleanField("Send one polite follow-up when there is no answer", default=True)
    give_up_business_days = IntegerField(
        "Business days after the follow-up before moving on",
        default=5,
        validators=[
            InputRequired(WAIT_MESSAGE),
            NumberRange(1, MAX_WAIT_BUSINESS_DAYS, WAIT_MESSAGE),
        ],
        description="Then the name is marked “no reply” and the next one is asked. Without "
        "a follow-up, that happens as soon as the first wait is over.",
    )
    allow_same_organisation = BooleanField(
        "Allow requests to two people at one organisation at the same time", default=False
    )


class FieldPhraseForm(PlainTextForm):
    """Confirm or change a target's field phrase."""

    field_phrase = StringField(
        "The field, as your emails say it",
        validators=[
            DataRequired("Say in a few words what the field is, as it reads in a sentence."),
            at_most(MAX_FIELD_PHRASE),
        ],
        description='The words that finish "Could I ask your advice about ...?", e.g. '
        '"museum education". Drafts you have not edited are written again with them.',
    )


class AddNamesForm(PlainTextForm):
    contact_ids = SelectMultipleField(
        "Add to the end of the list", coerce=int, validate_choice=False
    )


class AskAgainForm(PlainTextForm):
    """The deliberate choice to ask a held-back person again on one list."""

    confirmed = BooleanField(
        "I have a good reason to ask them again",
        validators=[DataRequired("Tick the box to say you mean to ask them again.")],
    )


class MoveForm(PlainTextForm):
    """Put one name at a place on the list (1 is the top)."""

    position = IntegerField("Place", validators=[InputRequired("Give a place on the list.")])


def _server_fields(
    what: str, port: int, tls: TlsMode, advice: str
) -> tuple[StringField, IntegerField, SelectField]:
    """Host, port and security of one of a mailbox's servers (MailServers' fields)."""
    return (
        StringField(f"{what} server", validators=[DataRequired(), at_most(255)]),
        IntegerField(
            f"{what} port", default=port, validators=[InputRequired(), NumberRange(1, 65535)]
        ),
        SelectField(f"{what} security", choices=TLS_CHOICES, default=tls.value, description=advice),
    )


class MailboxForm(PlainTextForm):
    """Connect a mailbox with a password; `settings()` gives what it holds to the core."""

    email_address = StringField("Email address", validators=[DataRequired(), at_most(320)])
    display_name = StringField(
        "Name shown to recipients",
        validators=[at_most(200)],
        description="Your own name when empty.",
    )
    imap_host, imap_port, imap_tls = _server_fields(
        "IMAP", 993, TlsMode.SSL, "SSL/TLS on port 993, or STARTTLS on 143."
    )
    smtp_host, smtp_port, smtp_tls = _server_fields(
        "SMTP", 587, TlsMode.STARTTLS, "STARTTLS on port 587, or SSL/TLS on 465."
    )
    username = StringField(
        "User name",
        validators=[at_most(320)],
        description="Usually the email address; used when empty.",
    )
    # PasswordField never renders its value back into the page.
    password = PasswordField(
        "Password or app password",
        validators=[DataRequired(), at_most(MAX_PASSWORD)],
        description="Stored encrypted. Gmail, iCloud, Yahoo and Fastmail need an app password.",
    )

    def settings(self) -> MailboxSettings:
        """The validated form as the core takes it (the password apart)."""
        return MailboxSettings.joining(
            _server(self.imap_host, self.imap_port, self.imap_tls),
            _server(self.smtp_host, self.smtp_port, self.smtp_tls),
            email_address=self.email_address.data,
            display_name=self.display_name.data or "",
            username=self.username.data or "",
        )

    @staticmethod
    def server_data(servers: MailServers) -> dict[str, object]:
        """The form's server fields as `servers` (a preset, settings found) fill them."""
        values = {item.name: getattr(servers, item.name) for item in fields(MailServers)}
        return {name: getattr(value, "value", value) for name, value in values.items()}


def _server(host: StringField, port: IntegerField, tls: SelectField) -> MailServer:
    return MailServer(host.data, port.data, TlsMode(tls.data))


class DraftForm(PlainTextForm):
    subject = StringField("Subject", validators=[DataRequired(), at_most(MAX_SUBJECT)])
    body = TextAreaField("Message", validators=[DataRequired(), at_most(MAX_BODY)])


class TemplateForm(PlainTextForm):
    """One kind of message's template; "Preview" and "Save" both post it."""

    subject = StringField(
        "Subject", validators=[DataRequired("Write a subject."), at_most(MAX_SUBJECT)]
    )
    body = TextAreaField(
        "Message", validators=[DataRequired("Write the message."), at_most(MAX_BODY)]
    )
    # Ownership is checked by the core: another user's contact gives a 404.
    contact_id = SelectField("Preview for", coerce=_optional_int, validate_choice=False)


class ApproveSelectionForm(PlainTextForm):
    message_ids = SelectMultipleField(coerce=int, validate_choice=False)


# What each kind of draft is called on the profile's auto-approval list.
AUTO_APPROVE_LABELS: dict[MessageKind, str] = {
    MessageKind.REQUEST: "Requests to the next name on a list",
    MessageKind.FOLLOW_UP: "The one follow-up, when a request had no answer",
    MessageKind.CONFIRMATION: "Meeting confirmations, the day before",
    MessageKind.THANK_YOU: "Thank-you notes after a meeting",
    MessageKind.KEEP_IN_TOUCH: "Keep-in-touch updates, months later",
}


def _check_time_zone(_form: object, field: SelectField) -> None:
    if field.data:
        try:
            check_time_zone(field.data)
        except CoreValidationError as problem:
            raise StopValidation(sentence(problem)) from None


def _check_holidays(_form: object, field: TextAreaField) -> None:
    try:
        check_holidays(field.data or "")
    except CoreValidationError as problem:
        raise StopValidation(sentence(problem)) from None


def _check_free_times(_form: object, field: TextAreaField) -> None:
    try:
        check_free_times(field.data or "")
    except CoreValidationError as problem:
        raise StopValidation(sentence(problem)) from None


class ProfileForm(PlainTextForm):
    name = StringField("Your name", validators=[DataRequired(), at_most(MAX_NAME)])
    introduction = TextAreaField(
        "Your 30-second introduction",
        validators=[at_most(MAX_INTRODUCTION)],
        description="Two or three sentences: who you are, what you study or do, and what you "
        "are curious about. Every request quotes it.",
    )
    signature = TextAreaField(
        "Signature",
        validators=[at_most(MAX_SIGNATURE)],
        description="The lines under your name at the end of every email: your school and "
        "programme (or your work), and a phone number or LinkedIn address if you like. Your "
        "name goes first unless this starts with it.",
    )
    # Checked here so the reason shows by the field; the core checks it again.
    time_zone = SelectField(
        "Your time zone",
        validate_choice=False,
        validators=[_check_time_zone],
        description="Your sending hours, the business days of follow-ups and every time "
        "on the board are in this zone.",
    )
    holidays = TextAreaField(
        "Holidays and days off",
        validators=[at_most(5000), _check_holidays],
        description="One date per line, written year-month-day (2026-12-24). No follow-up "
        "falls due and no waiting day is counted on these days, nor on weekends. "
        "Text after # is a note for you.",
    )
    free_times = TextAreaField(
        "Usual free times",
        validators=[at_most(2000), _check_free_times],
        description="When you are usually free to talk, in your time zone, one stretch a "
        "line: 'Mon-Fri 12:30-13:30', 'Tue 16:00-18:00'. When you reply to someone, the "
        "next of these times are offered to propose.",
    )
    auto_approve = SelectMultipleField(
        "Send without asking me",
        choices=[SelectChoice(kind.value, label) for kind, label in AUTO_APPROVE_LABELS.items()],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    # Present on the page's form: tells "nothing ticked" from "a form without the list".
    auto_approve_shown = HiddenField(default="1")
    monthly_goal = IntegerField(
        "Conversations a month",
        validators=[
            Optional(),
            NumberRange(1, MAX_MONTHLY_GOAL, f"Give a number from 1 to {MAX_MONTHLY_GOAL}."),
        ],
        description="Your own goal: how many informational interviews you want a month. "
        "The board shows how far along you are.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone.choices = time_zone_choices()

    def chosen_kinds(self) -> list[MessageKind]:
        """The ticked kinds; unknown values from a hand-made form are ignored."""
        known = {kind.value: kind for kind in auto_approvable_kinds()}
        return [known[value] for value in self.auto_approve.data or [] if value in known]


class PasswordForm(PlainTextForm):
    """A new password for the signed-in user; built with prefix "password" beside the profile."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Type your current password."), at_most(MAX_PASSWORD)],
    )
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Type the new password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=f"The new password needs at least {MIN_PASSWORD_LENGTH} characters.",
            ),
            at_most(MAX_PASSWORD),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    new_password_again = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the new password a second time."),
            EqualTo("new_password", "The two new passwords are not the same."),
        ],
    )


def time_zone_choices() -> list[SelectChoice]:
    return [SelectChoice(name, name) for name in sorted(known_time_zones())]


class PaceForm(PlainTextForm):
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
