"""Use cases for drafts: write them from templates, edit, approve, cancel.

Nothing leaves without approval. Approval fixes the Message-ID, so even a reply
that arrives seconds after sending can be matched to the outreach.

Drafting a request moves its outreach PLANNED -> DRAFTED with timeline.advance:
it is itself what follows a freed place (outreach.transitions), so it sits below
that module. Discarding a draft frees a place: that is target_actions.discard.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from outreach.accounts import mailbox_for, primary_mailbox
from outreach.asking_again import refusal_for
from outreach.db import owned_row
from outreach.errors import TemplateError, ValidationError
from outreach.models import (
    Contact,
    Direction,
    Mailbox,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    Template,
    User,
)
from outreach.reading.quoting import quote_below
from outreach.rules import template_gaps, templates
from outreach.rules.compose import make_message_id, one_line, reply_subject
from outreach.rules.cycle import MAX_MESSAGES_PER_PERSON, zone_of
from outreach.rules.plain_text import (
    MAX_BODY,
    MAX_SUBJECT,
    refuse_control_characters,
    refuse_too_long,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.timeline import advance, note_message


def template_for(session: Session, user: User, kind: MessageKind) -> tuple[str, str]:
    """The user's own template for `kind`, else the built-in one."""
    own = session.scalar(
        select(Template).where(Template.user_id == user.id, Template.kind == kind).limit(1)
    )
    if own is not None:
        return own.subject, own.body
    return templates.load_default(kind.value)


def values_for(user: User, contact: Contact, target: Target | None) -> dict[str, str]:
    """The template variables for one contact (see outreach.rules.templates.VARIABLES).

    The target's name is the list's: emails get its field phrase, under `field` and
    under `target`, the name older templates use.
    """
    field = target.field_phrase if target else ""
    return {
        "first_name": contact.first_name,
        "full_name": contact.name,
        "role": contact.role,
        "organisation": contact.organisation,
        "how_found": contact.how_found,
        "referrer_name": contact.referred_by.name if contact.referred_by else "",
        # A contact not yet stored (the editor's sample) has None where the column has "".
        "why_you": " ".join((contact.why_you or "").split()).rstrip("."),
        "my_name": user.name,
        "my_introduction": user.introduction,
        "my_signature": templates.signature_block(user.name, user.signature),
        "field": field,
        "target": field,
    }


def template_uses(session: Session, user: User, kind: MessageKind, name: str) -> bool:
    """Whether the user's template for `kind` refers to the variable `name`.

    A template that does not parse is said to use it: asking once too often
    costs a question, asking too seldom a draft with a gap.
    """
    subject, body = template_for(session, user, kind)
    try:
        return name in templates.variables_used(subject) | templates.variables_used(body)
    except TemplateError:
        return True


def new_draft(
    user: User, contact: Contact, outreach_id: int | None, kind: MessageKind, now: datetime
) -> Message:
    """An empty outbound draft of `kind` to `contact`; the caller writes it and adds it."""
    return Message(
        user_id=user.id,
        contact_id=contact.id,
        outreach_id=outreach_id,
        direction=Direction.OUTBOUND,
        kind=kind,
        status=MessageStatus.DRAFT,
        to_address=contact.email,
        created_at=now,
    )


def latest_message(
    session: Session,
    outreach_id: int | None,
    kind: MessageKind,
    *conditions: ColumnElement[bool],
    newest_by: InstrumentedAttribute[Any] = Message.id,
) -> Message | None:
    """The outreach's newest message of `kind` that meets `conditions` (newest by `newest_by`)."""
    return session.scalar(
        select(Message)
        .where(Message.outreach_id == outreach_id, Message.kind == kind, *conditions)
        .order_by(newest_by.desc())
        .limit(1)
    )


def draft_request(
    session: Session,
    user: User,
    outreach: Outreach,
    now: datetime,
    *,
    picked_under_lock: bool = False,
) -> Message:
    """Write the first request to the outreach's contact, for approval.

    When a value is missing, the draft says in words what goes where, and keeps
    which values it needs (see fill_in); such a draft cannot be approved.
    `picked_under_lock`: the caller chose this name by the cycle's rules in this
    transaction, under the target's lock (outreach.targets.fill_pipeline), so the
    limits checked here were read a moment ago and cannot have changed since.
    """
    contact = outreach.contact
    if not picked_under_lock:
        _check_may_write(session, outreach, now)
    draft = new_draft(user, contact, outreach.id, MessageKind.REQUEST, now)
    fill_from_template(session, user, draft, contact, outreach.target)
    session.add(draft)
    session.flush()
    advance(session, outreach, Trigger.REQUEST_DRAFTED, now, "request drafted", draft.id)
    return draft


def draft_follow_up(session: Session, user: User, outreach: Outreach, now: datetime) -> Message:
    """Write the one polite follow-up, in the same thread as the request.

    :raise ValidationError: when the request has not gone out, or a follow-up exists.
    """
    written = draft_follow_ups(session, [(user, outreach)], now)[outreach.id]
    if isinstance(written, ValidationError):
        raise written
    return written


def draft_follow_ups(
    session: Session, due: Sequence[tuple[User, Outreach]], now: datetime
) -> dict[int, Message | ValidationError]:
    """draft_follow_up for many outreaches at once, by outreach id: the draft, or why
    none was written. The same checks and text as one at a time, with a fixed number
    of queries for all of them (the scheduler drafts a round's follow-ups this way).
    """
    ids = [outreach.id for _, outreach in due]
    if not ids:
        return {}
    requests = _latest_sent_requests(session, ids)
    live = set(
        session.scalars(
            select(Message.outreach_id).where(
                Message.outreach_id.in_(ids),
                Message.kind == MessageKind.FOLLOW_UP,
                Message.status != MessageStatus.CANCELLED,
            )
        )
    )
    written = cycle_message_counts(session, ids)
    sources = templates_for(session, {user.id for user, _ in due}, MessageKind.FOLLOW_UP)
    # Held here so the identity map serves them to the loop (it keeps objects weakly).
    referrers = _load_referrers(session, [outreach.contact for _, outreach in due])
    mailbox_ids = {r.mailbox_id for r in requests.values() if r.mailbox_id is not None}
    mailboxes = (
        {m.id: m for m in session.scalars(select(Mailbox).where(Mailbox.id.in_(mailbox_ids)))}
        if mailbox_ids
        else {}
    )
    results: dict[int, Message | ValidationError] = {}
    drafts: list[Message] = []
    for user, outreach in due:
        request = requests.get(outreach.id)
        try:
            _check_follow_up(outreach, request, outreach.id in live)
            _check_contact_and_count(outreach.contact, written.get(outreach.id, 0))
        except ValidationError as problem:
            results[outreach.id] = problem
            continue
        assert request is not None and request.message_id is not None  # checked above
        contact = outreach.contact
        draft = new_draft(user, contact, outreach.id, MessageKind.FOLLOW_UP, now)
        # Same thread: "Re:" on the request's own subject, and the threading headers.
        draft.subject = reply_subject(request.subject)
        draft.in_reply_to = request.message_id
        draft.references = " ".join([*request.references.split(), request.message_id])
        mailbox = mailboxes.get(request.mailbox_id) if request.mailbox_id else None
        values = values_for(user, contact, outreach.target)
        fill_in(draft, contact, values, sources[user.id][1])
        if draft.body_text:
            draft.body_text = draft.body_text.rstrip("\n") + _quoted(request, mailbox, user)
        session.add(draft)
        drafts.append(draft)
        results[outreach.id] = draft
    del referrers
    session.flush()  # one INSERT for every draft: their ids for the timeline
    for draft in drafts:
        note_message(
            session, draft, "drafted", "follow-up drafted, in the same thread as the request", now
        )
    return results


def _check_follow_up(outreach: Outreach, request: Message | None, exists: bool) -> None:
    """:raise ValidationError: when no follow-up fits this outreach now."""
    if outreach.handled_by_user:
        raise ValidationError(
            f"you wrote to {outreach.contact.name} yourself, so no follow-up is drafted"
        )
    if outreach.state is not OutreachState.WAITING:
        raise ValidationError(
            f"a follow-up fits only while waiting for an answer, not when '{outreach.state.value}'"
        )
    if request is None or request.message_id is None:
        raise ValidationError("the request has not been sent yet")
    if exists:
        raise ValidationError("this contact already has a follow-up; one is the most we send")


def _latest_sent_requests(session: Session, outreach_ids: Sequence[int]) -> dict[int, Message]:
    """Each outreach's request sent last, by outreach id (those with one)."""
    sent = session.scalars(
        select(Message).where(
            Message.outreach_id.in_(outreach_ids),
            Message.kind == MessageKind.REQUEST,
            Message.status == MessageStatus.SENT,
        )
    )
    latest: dict[int, Message] = {}
    for request in sent:
        if request.outreach_id is None:
            continue
        known = latest.get(request.outreach_id)
        if known is None or _sent_order(request) > _sent_order(known):
            latest[request.outreach_id] = request
    return latest


def _sent_order(message: Message) -> tuple[bool, datetime | None, int]:
    return (message.sent_at is not None, message.sent_at, message.id)


def _load_referrers(session: Session, contacts: Sequence[Contact]) -> list[Contact]:
    """The contacts who referred `contacts`, in one query; `contact.referred_by` then
    finds them in the identity map while the caller holds the list."""
    ids = {c.referred_by_id for c in contacts if c.referred_by_id is not None}
    if not ids:
        return []
    return list(session.scalars(select(Contact).where(Contact.id.in_(ids))))


def templates_for(
    session: Session, user_ids: Collection[int], kind: MessageKind
) -> dict[int, tuple[str, str]]:
    """template_for many users at once: (subject, body) by user id."""
    own: dict[int, tuple[str, str]] = {}
    rows = session.scalars(
        select(Template)
        .where(Template.user_id.in_(user_ids), Template.kind == kind)
        .order_by(Template.id.desc())
    )
    for template in rows:
        own[template.user_id] = (template.subject, template.body)
    missing = set(user_ids) - own.keys()
    if missing:
        default = templates.load_default(kind.value)
        own.update(dict.fromkeys(missing, default))
    return own


# The kinds written in this module, so written again here from their template.
REFILLABLE = frozenset({MessageKind.REQUEST, MessageKind.FOLLOW_UP})


def needs_of(message: Message) -> list[str]:
    """The template values the draft is missing, by variable name."""
    return message.needs.split()


def fill_in(
    draft: Message,
    contact: Contact,
    values: Mapping[str, str],
    body_source: str,
    subject_source: str | None = None,
) -> None:
    """Write the draft's text from its template (and its subject, unless None).

    A missing value leaves its gap in words ("[how you found Dana]") and its
    name in `draft.needs`; a template that cannot be used leaves the text empty
    and says why. Either way the draft shows no template code and cannot be
    approved until the problem is gone.
    """

    def gap(name: str) -> str:
        return template_gaps.gap_text(name, contact.first_name, contact.name)

    try:
        if subject_source is None:
            body, missing = templates.with_gaps(
                lambda known: (
                    templates.render_text(body_source, known, contact.name).strip() + "\n"
                ),
                values,
                gap,
            )
        else:
            rendered, missing = templates.with_gaps(
                lambda known: templates.render(subject_source, body_source, known, contact.name),
                values,
                gap,
            )
            draft.subject, body = rendered.subject, rendered.body
    except TemplateError as problem:
        draft.body_text, draft.needs = "", ""
        if subject_source is not None:
            draft.subject = ""
        draft.error = (
            f"the template for this message could not be used ({problem}); "
            "fix it under Templates, or write the message yourself with Edit"
        )
        return
    draft.body_text = body
    draft.needs = " ".join(missing)
    draft.error = (
        template_gaps.needs_sentence(missing, contact.first_name, contact.name) if missing else None
    )


def fill_from_template(
    session: Session, user: User, draft: Message, contact: Contact, target: Target | None
) -> None:
    """Write a request or a follow-up from the user's template (see fill_in)."""
    subject_source, body_source = template_for(session, user, draft.kind)
    values = values_for(user, contact, target)
    if draft.kind is MessageKind.FOLLOW_UP:
        # A follow-up's subject is "Re:" the request's, set by draft_follow_up.
        fill_in(draft, contact, values, body_source)
        if draft.body_text:
            draft.body_text = draft.body_text.rstrip("\n") + _request_quoted(session, user, draft)
    else:
        fill_in(draft, contact, values, body_source, subject_source)


def _request_quoted(session: Session, user: User, follow_up: Message) -> str:
    """The request the follow-up answers, quoted below it (see _quoted)."""
    request = session.scalar(
        select(Message).where(
            Message.user_id == user.id,
            Message.outreach_id == follow_up.outreach_id,
            Message.kind == MessageKind.REQUEST,
            Message.message_id == follow_up.in_reply_to,
        )
    )
    if request is None:
        return "\n"
    mailbox = session.get(Mailbox, request.mailbox_id) if request.mailbox_id else None
    return _quoted(request, mailbox, user)


def _quoted(request: Message, mailbox: Mailbox | None, user: User) -> str:
    """The request quoted below its follow-up as mail clients do ("the note below" the
    follow-up speaks of): its text as sent, dated as its Date header, in the user's
    zone, under the name it went out with.
    """
    sent = request.claimed_at or request.sent_at or request.created_at
    author = (mailbox.display_name if mailbox is not None else "") or user.name
    return quote_below(request.body_text, sent.astimezone(zone_of(user.time_zone)), author)


def cycle_message_counts(session: Session, outreach_ids: Sequence[int]) -> dict[int, int]:
    """Requests and follow-ups (not cancelled) per outreach: the two-message rule counts these.

    Only those written to the contact's address as it is now count: one sent to an address
    the user has since corrected (it bounced) never reached them.
    """
    if not outreach_ids:
        return {}
    rows = session.execute(
        select(Message.outreach_id, func.count())
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Message.outreach_id.in_(outreach_ids),
            Message.to_address == Contact.email,
            Message.direction == Direction.OUTBOUND,
            Message.kind.in_((MessageKind.REQUEST, MessageKind.FOLLOW_UP)),
            Message.status != MessageStatus.CANCELLED,
        )
        .group_by(Message.outreach_id)
    )
    return {outreach_id: count for outreach_id, count in rows if outreach_id is not None}


def _check_may_write(session: Session, outreach: Outreach, now: datetime) -> None:
    """The cycle's hard limits on drafting: do-not-contact, two messages a person, and a
    request to someone an earlier answer says not to ask again (outreach.asking_again).

    :raise ValidationError: when a new request or follow-up would break one.
    """
    written = cycle_message_counts(session, [outreach.id]).get(outreach.id, 0)
    _check_contact_and_count(outreach.contact, written)
    if outreach.state is OutreachState.PLANNED:
        refusal = refusal_for(session, outreach)
        if refusal is not None:
            user = session.get(User, outreach.user_id)
            zone = zone_of(user.time_zone if user is not None else "")
            raise ValidationError(refusal.sentence(outreach.contact.name, zone, now))


def _check_contact_and_count(contact: Contact, written: int) -> None:
    """:raise ValidationError: for a do-not-contact person, or one written to twice already."""
    if contact.do_not_contact:
        raise ValidationError(f"{contact.name} is marked do-not-contact")
    if written >= MAX_MESSAGES_PER_PERSON:
        raise ValidationError(
            f"{contact.name} has had {written} messages in this cycle; "
            f"{MAX_MESSAGES_PER_PERSON} is the most we send one person"
        )


# Outbound messages not yet handed to the server: these can still be called off.
UNSENT = (
    MessageStatus.DRAFT,
    MessageStatus.APPROVED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
)


def cancel_unsent(
    session: Session,
    outreach: Outreach,
    now: datetime,
    detail: str,
    kinds: tuple[MessageKind, ...] = (MessageKind.REQUEST, MessageKind.FOLLOW_UP),
) -> list[Message]:
    """Cancel the outreach's requests or follow-ups that have not gone out yet.

    Each gets a line on the timeline. A message already being handed to the
    server cannot be called back; the send guard stops it if it can.
    """
    pending = list(
        session.scalars(
            select(Message).where(
                Message.outreach_id == outreach.id,
                Message.direction == Direction.OUTBOUND,
                Message.kind.in_(kinds),
                Message.status.in_(UNSENT),
            )
        )
    )
    for message in pending:
        message.status = MessageStatus.CANCELLED
        message.next_attempt_at = None
        message.waiting_reason = None
        note_message(session, message, "cancelled", detail, now)
    return pending


def get_message(session: Session, user: User, message_id: int) -> Message:
    """:raise NotFound: when the message does not exist or is someone else's."""
    return owned_row(session, Message, message_id, user.id, "message")


def list_drafts(
    session: Session, user: User, *, limit: int | None = None, offset: int = 0
) -> list[Message]:
    """Drafts waiting for the user's decision, oldest first (one page of them with `limit`)."""
    query = (
        select(Message)
        .where(Message.user_id == user.id, Message.status == MessageStatus.DRAFT)
        # The page shows each draft's contact: one query for all, not one per draft.
        .options(selectinload(Message.contact))
        .order_by(Message.created_at, Message.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def edit_draft(
    session: Session, user: User, message_id: int, subject: str, body: str, now: datetime
) -> Message:
    """Replace a draft's text; an approved message not yet sending goes back to draft."""
    message = get_message(session, user, message_id)
    editable = {
        MessageStatus.DRAFT,
        MessageStatus.APPROVED,
        MessageStatus.QUEUED,
        MessageStatus.RETRYING,
    }
    if message.status not in editable:
        raise ValidationError("only a draft, or an approved message not yet sent, can be edited")
    clean_subject = one_line(subject)
    refuse_control_characters("the subject", clean_subject)
    refuse_control_characters("the message", body, multi_line=True)
    if not clean_subject:
        raise ValidationError("the subject is empty")
    if not body.strip():
        raise ValidationError("the message is empty")
    refuse_too_long("the subject", clean_subject, MAX_SUBJECT)
    refuse_too_long("the message", body.strip(), MAX_BODY)
    message.subject = clean_subject
    message.body_text = body.replace("\r\n", "\n").strip() + "\n"
    text = message.subject + message.body_text
    contact = message.contact
    # A gap the user wrote over is filled; one left in the text is still needed.
    still = [
        name
        for name in needs_of(message)
        if contact is None or template_gaps.gap_text(name, contact.first_name, contact.name) in text
    ]
    message.needs = " ".join(still)
    if still and contact is not None:
        message.error = template_gaps.needs_sentence(still, contact.first_name, contact.name)
    elif "{{" in text or "{%" in text:
        # Template syntax left in an edited text would reach the contact verbatim.
        message.error = "the text still contains a {{ variable }} to fill in"
    else:
        message.error = None
    if message.status is not MessageStatus.DRAFT:
        # The edit must be approved again; the send-time guard sees the missing id
        # should a worker already hold this message.
        message.status = MessageStatus.DRAFT
        message.approved_at = None
        message.message_id = None
        message.next_attempt_at = None
        message.waiting_reason = None
    note_message(session, message, "draft_edited", "draft edited", now)
    return message


def approve(session: Session, user: User, message_id: int, now: datetime) -> Message:
    """Approve a draft for sending and fix its Message-ID on the sender's domain."""
    message = get_message(session, user, message_id)
    if message.status is not MessageStatus.DRAFT:
        raise ValidationError(f"this message is {message.status.value}, not a draft")
    if message.error or message.needs:
        problem = message.error or "it needs values"
        raise ValidationError(f"this draft cannot be approved: {problem}")
    contact = message.contact
    if contact is not None and contact.do_not_contact:
        raise ValidationError(f"{contact.name} is marked do-not-contact")
    mailbox = mailbox_for(session, user, message.to_address)
    if mailbox is None and primary_mailbox(session, user) is not None:
        raise ValidationError(
            "sandbox contacts are written to from the sandbox mailbox, and real people from "
            "a real one: there is no mailbox here for this address"
        )
    if mailbox is None:
        raise ValidationError("connect your mailbox before approving a message")
    message.mailbox_id = mailbox.id
    message.from_address = mailbox.email_address
    message.message_id = make_message_id(mailbox.email_address)
    message.status = MessageStatus.APPROVED
    message.approved_at = now
    note_message(session, message, "approved", f"approved for sending to {message.to_address}", now)
    return message


def auto_approved_kinds(user: User) -> frozenset[MessageKind]:
    """The kinds of draft the user chose to send without reviewing each one."""
    known = {kind.value for kind in MessageKind}
    return frozenset(MessageKind(word) for word in user.auto_approve.split() if word in known)


def maybe_auto_approve(session: Session, user: User, draft: Message, now: datetime) -> bool:
    """Approve `draft` at once when the user switched on auto-approval for its kind.

    A draft that cannot be approved (a template problem, no mailbox, a
    do-not-contact address) stays a draft for the user to see: nothing is lost.
    """
    if draft.kind not in auto_approved_kinds(user) or draft.status is not MessageStatus.DRAFT:
        return False
    try:
        approve(session, user, draft.id, now)
    except ValidationError as problem:
        note_message(
            session, draft, "auto_approval_skipped", f"left for you to review: {problem}", now
        )
        return False
    return True
