"""Use cases for the user's message templates: list, save, go back to the default, preview.

A template is user input rendered in the sandbox (see outreach.rules.templates). Saving
checks that it parses, uses only the documented variables and renders when every
variable is filled in, so a template that can never work is refused at once, in a
sentence, rather than discovered on the next draft.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.contacts import get_contact, list_contacts
from outreach.drafts import template_for, values_for
from outreach.errors import MissingVariable, NotFound, TemplateError, ValidationError
from outreach.models import Contact, MessageKind, Outreach, Target, Template, User
from outreach.rules import templates
from outreach.rules.compose import one_line, reply_subject

# The kinds of message a user writes, in the order an outreach uses them.
KIND_LABELS: dict[MessageKind, str] = {
    MessageKind.REQUEST: "First request",
    MessageKind.FOLLOW_UP: "Follow-up",
    MessageKind.CONFIRMATION: "Meeting confirmation",
    MessageKind.THANK_YOU: "Thank-you",
    MessageKind.KEEP_IN_TOUCH: "Keeping in touch",
}
OUTBOUND_KINDS: tuple[MessageKind, ...] = tuple(KIND_LABELS)

KIND_PURPOSES: dict[MessageKind, str] = {
    MessageKind.REQUEST: "The first email to a name on a target, asking for a short conversation.",
    MessageKind.FOLLOW_UP: "The one polite reminder when a request has had no answer.",
    MessageKind.CONFIRMATION: "A short note confirming a conversation that has been agreed.",
    MessageKind.THANK_YOU: "Thanks after the conversation.",
    MessageKind.KEEP_IN_TOUCH: "An update some months later, saying how their advice helped.",
}

# Who the preview writes to when the user has no contacts yet: plainly made up.
SAMPLE_CONTACT_NAME = "Alex Example"
SAMPLE_FIELD_PHRASE = "science policy"

# Far beyond any real email; a bound on what the sandbox is asked to parse.
MAX_SUBJECT_CHARS = 300
MAX_BODY_CHARS = 20_000

# Every variable filled in, for the trial render a template must pass to be saved.
_FILLED: dict[str, str] = {name: f"sample {name.replace('_', ' ')}" for name in templates.VARIABLES}


@dataclass(frozen=True)
class TemplateView:
    kind: MessageKind
    label: str
    purpose: str
    subject: str
    body: str
    is_default: bool


@dataclass(frozen=True)
class Preview:
    """A template rendered for one contact; `problem` says why it could not be."""

    subject: str
    body: str
    problem: str | None
    # Whom it was rendered for, and whether that person is made up.
    recipient: str
    sample: bool


def kind_from(value: str) -> MessageKind:
    """The outbound kind named `value`.

    :raise NotFound: for anything else (an inbound kind, a typo).
    """
    for kind in OUTBOUND_KINDS:
        if kind.value == value:
            return kind
    raise NotFound("no such kind of message")


def _own_rows(session: Session, user: User, kind: MessageKind) -> list[Template]:
    return list(
        session.scalars(
            select(Template)
            .where(Template.user_id == user.id, Template.kind == kind)
            .order_by(Template.id)
        )
    )


def list_templates(session: Session, user: User) -> list[TemplateView]:
    """One entry per outbound kind: the user's own wording, else the built-in one."""
    own = {
        row.kind: row
        for row in session.scalars(
            select(Template).where(Template.user_id == user.id).order_by(Template.id.desc())
        )
    }
    views = []
    for kind in OUTBOUND_KINDS:
        row = own.get(kind)
        subject, body = (row.subject, row.body) if row else templates.load_default(kind.value)
        views.append(
            TemplateView(
                kind=kind,
                label=KIND_LABELS[kind],
                purpose=KIND_PURPOSES[kind],
                subject=subject,
                body=body,
                is_default=row is None,
            )
        )
    return views


def get_template(session: Session, user: User, kind: MessageKind) -> TemplateView:
    """The wording drafts of `kind` use now (the same choice as drafts.template_for)."""
    subject, body = template_for(session, user, kind)
    return TemplateView(
        kind=kind,
        label=KIND_LABELS[kind],
        purpose=KIND_PURPOSES[kind],
        subject=subject,
        body=body,
        is_default=not _own_rows(session, user, kind),
    )


def _clean(subject: str, body: str) -> tuple[str, str]:
    clean_subject = one_line(subject)
    clean_body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not clean_subject:
        raise ValidationError("the subject is empty")
    if not clean_body:
        raise ValidationError("the message is empty")
    if len(clean_subject) > MAX_SUBJECT_CHARS:
        raise ValidationError(f"the subject is longer than {MAX_SUBJECT_CHARS} characters")
    if len(clean_body) > MAX_BODY_CHARS:
        raise ValidationError(f"the message is longer than {MAX_BODY_CHARS:,} characters")
    return clean_subject, clean_body + "\n"


def _in_part(error: TemplateError, part: str) -> str:
    """The sandbox says "the template ..."; say which part of it instead."""
    text = str(error)
    return text.replace("the template", part, 1) if text.startswith("the template") else text


def _names(names: list[str]) -> str:
    quoted = [f"{{{{ {name} }}}}" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _check(subject: str, body: str) -> None:
    """Parse both parts and refuse variables nobody fills in.

    :raise ValidationError: naming the part and line, or the unknown variables.
    """
    used: set[str] = set()
    for part, source in (("the subject", subject), ("the message", body)):
        try:
            used |= templates.variables_used(source)
        except TemplateError as error:
            raise ValidationError(_in_part(error, part)) from None
    unknown = sorted(used - set(templates.VARIABLES))
    if unknown:
        which = "which is not a variable" if len(unknown) == 1 else "which are not variables"
        raise ValidationError(
            f"the template uses {_names(unknown)}, {which} we know; "
            f"the variables you can use are {', '.join(templates.VARIABLES)}"
        )


def validate_template(subject: str, body: str) -> tuple[str, str]:
    """Return the cleaned (subject, body) when they could be saved.

    :raise ValidationError: when a part is empty, does not parse, uses an unknown
        variable, or fails even with every variable filled in (say, it reaches
        for something the sandbox forbids).
    """
    clean_subject, clean_body = _clean(subject, body)
    _check(clean_subject, clean_body)
    for part, source in (("the subject", clean_subject), ("the message", clean_body)):
        try:
            templates.render_text(source, _FILLED)
        except MissingVariable:
            raise ValidationError(
                f"{part} prints something empty even when every variable is filled in"
            ) from None
        except TemplateError as error:
            raise ValidationError(_in_part(error, part)) from None
    return clean_subject, clean_body


def save_template(
    session: Session, user: User, kind: MessageKind, subject: str, body: str
) -> Template:
    """Make `subject` and `body` the user's wording for `kind`; new drafts use it.

    :raise ValidationError: see validate_template.
    """
    clean_subject, clean_body = validate_template(subject, body)
    if kind is MessageKind.KEEP_IN_TOUCH and "update" not in templates.variables_used(clean_body):
        raise ValidationError(
            "a keep-in-touch message needs {{ update }} where your news goes: "
            "the draft waits for you to write it"
        )
    rows = _own_rows(session, user, kind)
    if rows:
        row = rows[0]
        for extra in rows[1:]:
            session.delete(extra)
    else:
        row = Template(user_id=user.id, kind=kind)
        session.add(row)
    row.subject = clean_subject
    row.body = clean_body
    session.flush()
    return row


def reset_template(session: Session, user: User, kind: MessageKind) -> None:
    """Forget the user's wording for `kind`: drafts use the built-in default again."""
    session.execute(delete(Template).where(Template.user_id == user.id, Template.kind == kind))
    session.flush()


def preview_contacts(session: Session, user: User) -> list[Contact]:
    """Whom a preview can be rendered for: the user's contacts, by name."""
    return list_contacts(session, user)


def _sample_contact() -> Contact:
    """A made-up contact, never added to a session."""
    return Contact(
        email="alex@example.org",
        name=SAMPLE_CONTACT_NAME,
        first_name="Alex",
        role="Policy adviser",
        organisation="Example Institute",
        how_found="the alumni network",
        why_you="you moved into policy from research, as I hope to",
    )


def _field_for(session: Session, user: User, contact: Contact | None) -> str:
    """The field phrase a draft to `contact` would use: their latest target's, else the
    user's first target's, else a sample."""
    if contact is not None:
        phrase = session.scalar(
            select(Target.field_phrase)
            .join(Outreach, Outreach.target_id == Target.id)
            .where(Outreach.user_id == user.id, Outreach.contact_id == contact.id)
            .order_by(Outreach.created_at.desc(), Outreach.id.desc())
            .limit(1)
        )
        if phrase:
            return phrase
    phrase = session.scalar(
        select(Target.field_phrase).where(Target.user_id == user.id).order_by(Target.id).limit(1)
    )
    return phrase or SAMPLE_FIELD_PHRASE


def preview(
    session: Session,
    user: User,
    kind: MessageKind,
    subject: str,
    body: str,
    contact_id: int | None,
) -> Preview:
    """Render unsaved text as a draft to one contact would read.

    With no `contact_id` the user's first contact is used, or a made-up one
    when the list is empty. A template that cannot be rendered gives a Preview
    whose `problem` says why, in the words a draft would carry.

    :raise NotFound: when `contact_id` is not one of the user's contacts.
    """
    if contact_id is not None:
        contact: Contact | None = get_contact(session, user, contact_id)
    else:
        contacts = list_contacts(session, user)
        contact = contacts[0] if contacts else None
    sample = contact is None
    person = _sample_contact() if contact is None else contact
    recipient = f"{person.name} (a sample contact)" if sample else person.name
    values = values_for(user, person, None)
    values["field"] = values["target"] = _field_for(session, user, contact)

    def failed(problem: str) -> Preview:
        return Preview(subject="", body="", problem=problem, recipient=recipient, sample=sample)

    try:
        clean_subject, clean_body = _clean(subject, body)
        _check(clean_subject, clean_body)
    except ValidationError as error:
        return failed(str(error))
    if kind is MessageKind.FOLLOW_UP:
        # A follow-up answers the request in its own thread: its subject is the request's.
        clean_subject = template_for(session, user, MessageKind.REQUEST)[0]
    try:
        rendered = templates.render(clean_subject, clean_body, values, recipient)
    except TemplateError as error:
        return failed(str(error))
    if kind is MessageKind.FOLLOW_UP:
        rendered = templates.Rendered(reply_subject(rendered.subject), rendered.body)
    return Preview(
        subject=rendered.subject,
        body=rendered.body,
        problem=None,
        recipient=recipient,
        sample=sample,
    )
