"""The outbox: what goes out when and why it waits, what needs the user's word, what failed.

The database is the outbox (docs/decisions/0004); this page only reads it, in
the user's time zone. Its two buttons settle a message whose delivery is
unknown, through outreach.sending.resolve_unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
from outreach.sending import resolve_unknown
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.helpers import local, local_date, now
from web.progress import GOING
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
    message: Message, mailbox: Mailbox | None, user: User, moment: datetime
) -> tuple[str, datetime | None]:
    """When the message will go and why it waits, in words, with the moment it names."""

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
    if due is not None and due > moment:
        reason = message.waiting_reason or "it is scheduled for later"
        return f"waits: {reason} — next try {at(due)}", due
    verdict = pace.judge(mailbox, user.time_zone, moment)
    if not verdict.allowed:
        if verdict.retry_at is None:
            return f"waits: {verdict.reason} — your pace leaves no time to send", None
        return f"waits: {verdict.reason} — next try {at(verdict.retry_at)}", verdict.retry_at
    return "due now: it goes out as soon as the sender picks it up", None


def _row(message: Message, user: User, plan: str = "", at: datetime | None = None) -> OutboxRow:
    return OutboxRow(
        message=message,
        kind=KIND_LABELS.get(message.kind, message.kind.value),
        status=STATUS_LABELS.get(message.status, message.status.value),
        plan=plan,
        at=at,
        at_text=local_date(at, user.time_zone) if at is not None else "",
    )


def outbox(session: Session, user: User, moment: datetime) -> dict[str, list[OutboxRow]]:
    """The user's outbound messages in the page's four groups."""
    mailboxes = {mailbox.id: mailbox for mailbox in list_mailboxes(session, user)}
    base = (
        select(Message)
        .where(Message.user_id == user.id, Message.direction == Direction.OUTBOUND)
        .options(selectinload(Message.contact))
    )

    going: list[OutboxRow] = []
    for message in session.scalars(
        base.where(Message.status.in_(GOING)).order_by(Message.approved_at, Message.id)
    ):
        mailbox = mailboxes.get(message.mailbox_id) if message.mailbox_id else None
        plan, at = _plan(message, mailbox, user, moment)
        going.append(_row(message, user, plan, at))

    unknown = [
        _row(message, user, at=message.claimed_at)
        for message in session.scalars(
            base.where(Message.status == MessageStatus.UNKNOWN).order_by(Message.claimed_at)
        )
    ]

    # Refused by the server, or stopped by the check just before sending.
    last_try = func.coalesce(Message.claimed_at, Message.approved_at, Message.created_at)
    not_delivered = session.scalars(
        base.where(
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
    failed = [
        _row(message, user, at=message.claimed_at or message.approved_at)
        for message in not_delivered
    ]

    sent = [
        _row(message, user, at=message.sent_at)
        for message in session.scalars(
            base.where(Message.status == MessageStatus.SENT)
            .order_by(Message.sent_at.desc(), Message.id.desc())
            .limit(SHOWN_SENT)
        )
    ]
    return {"going": going, "unknown": unknown, "failed": failed, "sent": sent}


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
