"""The outbox: what goes out when and why it waits, what needs the user's word, what failed.

The database is the outbox (docs/decisions/0004); this page only reads it, in
the user's time zone. Its two buttons settle a message whose delivery is
unknown, through outreach.sending.resolve_unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from outreach import pace
from outreach.accounts import list_mailboxes
from outreach.models import (
    Direction,
    Mailbox,
    MailboxStatus,
    Message,
    MessageStatus,
    User,
)
from outreach.outbox import GOING, OutboxSection, outbox_section
from outreach.sending import resolve_unknown
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.helpers import local, local_date, now, pace_in_words
from web.views.drafts import KIND_LABELS, queue_for_sending

bp = Blueprint("outbox", __name__)

STATUS_LABELS: dict[MessageStatus, str] = {
    MessageStatus.APPROVED: "approved",
    MessageStatus.QUEUED: "queued",
    MessageStatus.RETRYING: "retrying",
    MessageStatus.SENDING: "sending",
    MessageStatus.UNKNOWN: "needs your decision",
    MessageStatus.FAILED: "not delivered",
    MessageStatus.CANCELLED: "not sent",
    MessageStatus.SENT: "sent",
}
# Failed messages stay on the page this long after their last attempt.
RECENT = timedelta(days=14)
SHOWN_SENT = 20
SHOWN_FAILED = 20
SEND_AGAIN_QUEUE_DOWN = (
    "It will be sent again. The sending queue cannot be reached right now, so it goes "
    "when the worker is back; nothing is lost."
)


@dataclass(frozen=True)
class OutboxRow:
    """One message as the page shows it; `plan` says when it goes and why it waits."""

    message: Message
    kind: str
    status: str
    plan: str = ""
    at: datetime | None = None
    at_text: str = ""


def _plan(
    message: Message,
    mailbox: Mailbox | None,
    user: User,
    moment: datetime,
    expected: datetime | None,
) -> tuple[str, datetime | None]:
    """When the message will go and why it waits, in words, with the moment it names.

    `expected` is its departure as the pace plays forward (pace.expected_departures):
    the second of two messages approved together leaves a gap after the first,
    and says so, rather than both saying "due now".
    """

    def at(value: datetime) -> str:
        return local(value, user.time_zone, moment)

    if message.status is MessageStatus.SENDING:
        return "going out now: it is being handed to your mail server", message.claimed_at
    if mailbox is None:
        return "waits: the mailbox it was approved for is gone; reconnect it", None
    if mailbox.sending_paused:
        return "waits: sending from this mailbox is paused (see the notice above)", None
    due = message.next_attempt_at
    if message.status is MessageStatus.RETRYING and due is not None and due > moment:
        return f"waits: your mail server did not take it yet — next try {at(due)}", due
    if due is not None and due > moment and (expected is None or expected <= due):
        reason = message.waiting_reason or "it is scheduled for later"
        return f"waits: {reason} — next try {at(due)}", due
    verdict = pace.judge(mailbox, user.time_zone, moment)
    if expected is None:
        if verdict.retry_at is None and not verdict.allowed:
            return f"waits: {verdict.reason} — your pace leaves no time to send", None
        return "waits: your pace leaves no time to send it in the next two months", None
    if expected <= moment + IMMINENT:
        return "due now: it goes out as soon as the sender picks it up", expected
    if not verdict.allowed and verdict.retry_at is not None and expected <= verdict.retry_at:
        return f"waits: {verdict.reason} — next try {at(expected)}", expected
    pace_words = pace_in_words(mailbox)
    return f"waits its turn after the ones above ({pace_words}) — expected {at(expected)}", expected


# Closer than this, "due now" is the truth: the sender is picking it up.
IMMINENT = timedelta(seconds=20)


def _row(message: Message, user: User, plan: str = "", at: datetime | None = None) -> OutboxRow:
    return OutboxRow(
        message=message,
        kind=KIND_LABELS.get(message.kind, message.kind.value),
        status=STATUS_LABELS.get(message.status, message.status.value),
        plan=plan,
        at=at,
        at_text=local_date(at, user.time_zone) if at is not None else "",
    )


def _shown_messages(session: Session, user: User, moment: datetime) -> list[Message]:
    """Every message the page shows, read in one statement: one snapshot of their states."""
    mine = (
        Message.user_id == user.id,
        Message.direction == Direction.OUTBOUND,
    )
    latest_sent = (
        select(Message.id)
        .where(*mine, Message.status == MessageStatus.SENT)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(SHOWN_SENT)
    )
    # Refused by the server, or stopped by the check just before sending.
    last_try = func.coalesce(Message.claimed_at, Message.approved_at, Message.created_at)
    latest_failed = (
        select(Message.id)
        .where(
            *mine,
            (Message.status == MessageStatus.FAILED)
            | (
                (Message.status == MessageStatus.CANCELLED)
                & Message.approved_at.is_not(None)
                & Message.error.is_not(None)
            ),
            last_try >= moment - RECENT,
        )
        .order_by(last_try.desc(), Message.id.desc())
        .limit(SHOWN_FAILED)
    )
    return list(
        session.scalars(
            select(Message)
            .where(
                *mine,
                Message.status.in_((*GOING, MessageStatus.UNKNOWN))
                | Message.id.in_(latest_sent.scalar_subquery())
                | Message.id.in_(latest_failed.scalar_subquery()),
            )
            .options(selectinload(Message.contact))
        )
    )


def _first(value: datetime | None) -> datetime:
    return value or datetime.min.replace(tzinfo=UTC)


def outbox(session: Session, user: User, moment: datetime) -> dict[str, list[OutboxRow]]:
    """The user's outbound messages in the page's four groups, each message in one of them."""
    mailboxes = {mailbox.id: mailbox for mailbox in list_mailboxes(session, user)}
    filed: dict[OutboxSection, list[Message]] = {section: [] for section in OutboxSection}
    for message in _shown_messages(session, user, moment):
        section = outbox_section(message)
        if section is not None:
            filed[section].append(message)

    waiting = sorted(filed[OutboxSection.GOING], key=lambda m: (_first(m.approved_at), m.id))
    expected = _expected(waiting, mailboxes, user, moment)
    going: list[OutboxRow] = []
    for message in waiting:
        mailbox = mailboxes.get(message.mailbox_id) if message.mailbox_id else None
        plan, at = _plan(message, mailbox, user, moment, expected.get(message.id))
        going.append(_row(message, user, plan, at))

    unknown = [
        _row(message, user, at=message.claimed_at)
        for message in sorted(filed[OutboxSection.UNKNOWN], key=lambda m: _first(m.claimed_at))
    ]

    def last_try(message: Message) -> datetime:
        return _first(message.claimed_at or message.approved_at or message.created_at)

    failed = [
        _row(message, user, at=message.claimed_at or message.approved_at)
        for message in sorted(
            filed[OutboxSection.FAILED], key=lambda m: (last_try(m), m.id), reverse=True
        )
    ]
    sent = [
        _row(message, user, at=message.sent_at)
        for message in sorted(
            filed[OutboxSection.SENT], key=lambda m: (_first(m.sent_at), m.id), reverse=True
        )
    ]
    return {"going": going, "unknown": unknown, "failed": failed, "sent": sent}


def _expected(
    waiting: list[Message], mailboxes: dict[int, Mailbox], user: User, moment: datetime
) -> dict[int, datetime | None]:
    """Each waiting message's expected departure, mailbox by mailbox, in the order they wait."""
    expected: dict[int, datetime | None] = {}
    for mailbox_id, mailbox in mailboxes.items():
        queue = [
            m
            for m in waiting
            if m.mailbox_id == mailbox_id and m.status is not MessageStatus.SENDING
        ]
        queue.sort(key=lambda m: (max(moment, m.next_attempt_at or moment), m.id))
        departures = pace.expected_departures(
            mailbox, user.time_zone, moment, [m.next_attempt_at for m in queue]
        )
        expected.update(zip((m.id for m in queue), departures, strict=True))
    return expected


@bp.get("/outbox")
def index() -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    # A refused password is explained here; a sign-in that expired has its own banner.
    paused = [
        mailbox
        for mailbox in list_mailboxes(session, user)
        if mailbox.sending_paused and mailbox.status is not MailboxStatus.NEEDS_SIGN_IN
    ]
    return render_template(
        "outbox/index.html",
        groups=outbox(session, user, now()),
        paused=paused,
        time_zone=user.time_zone,
        shown_sent=SHOWN_SENT,
    )


def _resolve(message_id: int, delivered: bool) -> Message | None:
    """Record the user's answer for an unknown message; None (and a flash) when refused.

    :raise NotFound: when the message is not the user's.
    """
    session = get_session()
    with attempt(session) as outcome:
        message = resolve_unknown(session, current_user(), message_id, delivered, now())
    if outcome.refused:
        return None
    return message


@bp.post("/outbox/<int:message_id>/delivered")
def mark_delivered(message_id: int) -> ResponseReturnValue:
    """The user found the message in their Sent folder: record it as sent.

    :raise 404: when the message is not the user's.
    """
    message = _resolve(message_id, delivered=True)
    if message is not None:
        flash(
            f"Recorded as delivered to {message.to_address}. Nothing more will be sent.",
            "success",
        )
    return redirect(url_for("outbox.index"))


@bp.post("/outbox/<int:message_id>/send-again")
def send_again(message_id: int) -> ResponseReturnValue:
    """The message is not in the Sent folder: queue it once more, then wake a worker.

    :raise 404: when the message is not the user's.
    """
    message = _resolve(message_id, delivered=False)
    if message is not None:
        if queue_for_sending([message]):
            flash(f"The message to {message.to_address} will be sent again.", "success")
        else:
            flash(SEND_AGAIN_QUEUE_DOWN, "warning")
    return redirect(url_for("outbox.index"))
