"""The cycle's clock: take every time-based step that is due, for every user.

A worker runs `run_due_steps` every sweep interval (workers/jobs.py). Each step
is idempotent and safe when several workers run at once:

- Whoever acts on a target takes its row lock first (targets.lock_target), then
  re-reads the outreach, so a second worker sees the step already taken.
- The step itself is a compare-and-set on the outreach's (state, next_step_at):
  only the worker whose UPDATE still matches what it read goes on to draft.

So a follow-up is never drafted twice, and running the scheduler twice at the
same moment changes nothing the second time (docs/decisions/0007-cycle-scheduler.md).
Giving up goes through outreach.transitions, which drafts the next name; the
meetings' own steps are in outreach.meetings.due_steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from outreach.db import compare_and_set
from outreach.drafts import cycle_message_counts, draft_follow_up, maybe_auto_approve
from outreach.errors import ValidationError
from outreach.meetings.due_steps import run_due as run_meeting_steps
from outreach.models import Contact, Message, MessageKind, MessageStatus, Outreach, Target, User
from outreach.rules import cycle
from outreach.rules.states import OutreachState, Trigger
from outreach.targets import calendar_of, fill_pipeline, lock_target, rules_of
from outreach.timeline import note_about
from outreach.transitions import transition

log = logging.getLogger(__name__)

# An approved follow-up in one of these is on its way: the cycle does not give up on it.
_IN_OUTBOX = (
    MessageStatus.APPROVED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
)


@dataclass
class StepReport:
    """What a run did: one line per step, and the drafts it wrote."""

    lines: list[str] = field(default_factory=list)
    drafts: list[Message] = field(default_factory=list)


def run_due_steps(session: Session, now: datetime) -> list[str]:
    """Take every step due at `now`, for all users: follow-ups, giving up, filling lists,
    then the meetings' steps. Returns one line per step taken; [] when nothing was due.
    """
    report = take_due_steps(session, now)
    report.lines.extend(fill_every_target(session, now).lines)
    report.lines.extend(run_meeting_steps(session, now))
    return report.lines


def take_due_steps(session: Session, now: datetime, *, target_id: int | None = None) -> StepReport:
    """The clock steps (follow-up, giving up) due at `now`, optionally for one target."""
    query = (
        select(Outreach.id, Outreach.target_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(
            Outreach.state.in_(cycle.CLOCKED),
            Outreach.next_step_at.is_not(None),
            Outreach.next_step_at <= now,
            Outreach.handled_by_user.is_(False),
            Target.paused.is_(False),
        )
        .order_by(Outreach.next_step_at, Outreach.id)
    )
    if target_id is not None:
        query = query.where(Outreach.target_id == target_id)
    due = session.execute(query).all()
    owners = _load_owners(session, [outreach_id for outreach_id, _target in due])
    report = StepReport()
    for outreach_id, outreach_target in due:
        _take_step(session, outreach_id, outreach_target, now, report)
    del owners
    return report


def _load_owners(session: Session, outreach_ids: list[int]) -> list[User | Contact]:
    """The users and contacts of the due outreaches, in one query each rather than one
    per step: the session's identity map serves them to the steps, as long as the
    caller holds the list (the map keeps its objects only weakly)."""
    if not outreach_ids:
        return []
    owners = select(Outreach.user_id, Outreach.contact_id).where(Outreach.id.in_(outreach_ids))
    pairs = session.execute(owners).all()
    users = session.scalars(select(User).where(User.id.in_({user for user, _ in pairs}))).all()
    contacts = session.scalars(
        select(Contact).where(Contact.id.in_({contact for _, contact in pairs}))
    ).all()
    return [*users, *contacts]


def _follow_up_status(session: Session, outreach_id: int) -> tuple[bool, bool]:
    """(a follow-up was ever drafted, one is approved and still in the outbox).

    A follow-up the user discarded counts as drafted: the cycle does not write
    another one behind their back; it gives up when the wait runs out.
    """
    statuses = set(
        session.scalars(
            select(Message.status).where(
                Message.outreach_id == outreach_id, Message.kind == MessageKind.FOLLOW_UP
            )
        )
    )
    return bool(statuses), bool(statuses & set(_IN_OUTBOX))


def _take_step(
    session: Session, outreach_id: int, target_id: int, now: datetime, report: StepReport
) -> None:
    # The target first, then the outreach: the order every writer uses, so no deadlock.
    # Both are read once the lock is held, so a step is judged on what is current.
    lock_target(session, target_id)
    target = session.get(Target, target_id, populate_existing=True)
    outreach = session.get(Outreach, outreach_id, populate_existing=True)
    if target is None or outreach is None:
        return
    user = session.get(User, outreach.user_id)
    if user is None:
        return
    follow_up_exists, follow_up_in_outbox = _follow_up_status(session, outreach.id)
    due = cycle.Due(
        state=outreach.state,
        next_step_at=outreach.next_step_at,
        handled_by_user=outreach.handled_by_user,
        messages=cycle_message_counts(session, [outreach.id]).get(outreach.id, 0),
        follow_up_exists=follow_up_exists,
        follow_up_in_outbox=follow_up_in_outbox,
    )
    rules = rules_of(target)
    step = cycle.due_step(due, rules, now)
    if step is cycle.Step.NOTHING:
        return
    calendar = calendar_of(user)
    after = cycle.next_step_after(step, rules, now, calendar)
    claimed = compare_and_set(
        session,
        update(Outreach)
        .where(
            Outreach.id == outreach.id,
            Outreach.state == due.state,
            Outreach.next_step_at == due.next_step_at,
        )
        .values(next_step_at=after),
    )
    if not claimed:
        return  # another worker took this step a moment ago
    # What the compare-and-set wrote, without reading the row back.
    set_committed_value(outreach, "next_step_at", after)
    name = outreach.contact.name
    if step is cycle.Step.DRAFT_FOLLOW_UP:
        try:
            draft = draft_follow_up(session, user, outreach, now)
        except ValidationError as problem:
            skipped = f"no follow-up drafted: {problem}"
            note_about(session, outreach, "cycle:follow_up_skipped", skipped, now)
            _give_up(session, target, outreach, now, report)
            return
        maybe_auto_approve(session, user, draft, now)
        report.drafts.append(draft)
        report.lines.append(f"follow-up drafted for {name} ({target.name})")
    elif step is cycle.Step.POSTPONE:
        report.lines.append(f"{name}'s follow-up is still in the outbox; looking again later")
    else:
        _give_up(session, target, outreach, now, report)


def _give_up(
    session: Session,
    target: Target,
    outreach: Outreach,
    now: datetime,
    report: StepReport,
) -> None:
    """No answer in time: mark "no reply"; the next name gets its request at once."""
    followed_up = outreach.state is OutreachState.FOLLOWED_UP
    moved = transition(
        session,
        outreach,
        Trigger.WAIT_EXPIRED,
        now,
        "no answer after the follow-up; moving on to the next name"
        if followed_up
        else "no answer in time; moving on to the next name",
    )
    report.lines.append(f"{outreach.contact.name}: no reply ({target.name})")
    report.drafts.extend(moved.drafted)
    report.lines.extend(_drafted_lines(moved.drafted, target))


def _drafted_lines(drafted: list[Message], target: Target) -> list[str]:
    return [
        f"request drafted for {draft.contact.name if draft.contact else 'a contact'} "
        f"({target.name})"
        for draft in drafted
    ]


def fill_every_target(session: Session, now: datetime) -> StepReport:
    """Draft the next names wherever a place is free: after a reply, a resume, or a
    step another process could not finish. Targets with no free place are not touched.
    """
    in_flight = (
        select(Outreach.target_id, func.count().label("busy"))
        .where(Outreach.state.in_(cycle.IN_FLIGHT))
        .group_by(Outreach.target_id)
        .subquery()
    )
    planned = select(Outreach.target_id).where(Outreach.state == OutreachState.PLANNED)
    query = (
        select(Target)
        .outerjoin(in_flight, in_flight.c.target_id == Target.id)
        .where(
            Target.paused.is_(False),
            Target.id.in_(planned),
            func.coalesce(in_flight.c.busy, 0) < Target.max_in_flight,
        )
        .order_by(Target.id)
    )
    report = StepReport()
    for target in list(session.scalars(query)):
        user = session.get(User, target.user_id)
        if user is None:
            continue
        drafted = fill_pipeline(session, user, target, now)
        report.drafts.extend(drafted)
        report.lines.extend(_drafted_lines(drafted, target))
    return report
