"""Where approved messages stand, for the pages that show outreaches and the navigation.

The core's board says "waiting for your approval" for every drafted outreach;
once its request is approved it is in the outbox instead, and these helpers
say so without changing the core's read model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.board import BoardRow
from outreach.models import Message, MessageKind, MessageStatus, Outreach, User
from outreach.outbox import GOING
from outreach.rules.states import OutreachState


def request_progress(
    session: Session, user: User, outreach_ids: Collection[int] | None = None
) -> dict[tuple[int, int], MessageStatus]:
    """For each drafted outreach, keyed (contact id, target id): its request's status.

    `outreach_ids`, when given, limits it to those outreaches (a page of the board).
    """
    query = (
        select(Outreach.contact_id, Outreach.target_id, Message.status)
        .join(Message, Message.outreach_id == Outreach.id)
        .where(
            Outreach.user_id == user.id,
            Outreach.state == OutreachState.DRAFTED,
            Message.kind == MessageKind.REQUEST,
            Message.status != MessageStatus.CANCELLED,
        )
        .order_by(Message.id)
    )
    if outreach_ids is not None:
        query = query.where(Outreach.id.in_(outreach_ids))
    rows = session.execute(query)
    return {(row.contact_id, row.target_id): row.status for row in rows}


# What a drafted outreach's row says once its request has left the approvals queue.
IN_OUTBOX_DETAIL: dict[MessageStatus, str] = {
    MessageStatus.APPROVED: "approved; in the outbox, waiting to be sent",
    MessageStatus.QUEUED: "approved; in the outbox, waiting to be sent",
    MessageStatus.SENDING: "approved; being sent now",
    MessageStatus.RETRYING: "approved; your mail server will be tried again",
    MessageStatus.UNKNOWN: "may have been sent; the outbox needs your decision",
    MessageStatus.FAILED: "not delivered; see the outbox",
}


def with_outbox_detail(
    rows: Sequence[BoardRow], progress: Mapping[tuple[int, int], MessageStatus]
) -> tuple[list[BoardRow], set[tuple[int, int]]]:
    """The board's rows with the right words for requests already approved.

    Returns the rows and the (contact id, target id) keys whose detail now
    points to the outbox rather than to the drafts.
    """
    shown: list[BoardRow] = []
    in_outbox: set[tuple[int, int]] = set()
    for row in rows:
        key = (row.contact_id, row.target_id)
        status = progress.get(key)
        detail = IN_OUTBOX_DETAIL.get(status) if status is not None else None
        if row.state is OutreachState.DRAFTED and detail is not None:
            shown.append(replace(row, detail=detail))
            in_outbox.add(key)
        else:
            shown.append(row)
    return shown, in_outbox


def needs_decision_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.user_id == user.id, Message.status == MessageStatus.UNKNOWN)
        )
        or 0
    )


def going_out_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.user_id == user.id, Message.status.in_(GOING))
        )
        or 0
    )
