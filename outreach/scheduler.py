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

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from outreach.drafts import cycle_message_counts, draft_follow_ups, maybe_auto_approve
from outreach.errors import ValidationError
from outreach.meetings.due_steps import run_due as run_meeting_steps
from outreach.models import Contact, Message, MessageKind, MessageStatus, Outreach, Target, User
from outreach.rules import cycle
from outreach.rules.states import OutreachState, Trigger
from outreach.targets import calendar_of, fill_pipeline, lock_targets, rules_of
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
    """The clock steps (follow-up, giving up) due at `now`, optionally for one target.

    Set-based: a round reads, locks, claims and drafts for every due outreach at once,
    in a fixed number of statements however many users have a step due; only giving
    up (rare, and it drafts the next name) goes one outreach at a time.
    """
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
    report = StepReport()
    if not due:
        return report
    # The targets first, then the outreaches: the order every writer uses, so no deadlock.
    lock_targets(session, {target for _outreach, target in due})
    found = _DueRound.read(session, [outreach_id for outreach_id, _target in due])
    steps = found.decide(now)
    won = _claim(session, steps)
    steps = [step for step in steps if step.outreach.id in won]
    for step in steps:
        # What the compare-and-set wrote, without reading the row back.
        set_committed_value(step.outreach, "next_step_at", step.after)
    written = draft_follow_ups(
        session,
        [(s.user, s.outreach) for s in steps if s.step is cycle.Step.DRAFT_FOLLOW_UP],
        now,
    )
    for step in steps:
        _finish_step(session, step, written, now, report)
    del found
    return report


@dataclass
class _Decided:
    """One due outreach, what the rules say to do, and where its clock goes then."""

    outreach: Outreach
    target: Target
    user: User
    due: cycle.Due
    step: cycle.Step
    after: datetime | None


@dataclass
class _DueRound:
    """Everything the due steps are judged on, read once the targets are locked:
    a handful of queries for the whole round, whatever its size."""

    outreaches: list[Outreach]
    # Held so the identity map serves them to the steps (it keeps objects only weakly).
    owners: list[Target | User | Contact]
    # Per outreach: the statuses of its follow-ups, cancelled ones included.
    follow_ups: dict[int, set[MessageStatus]]
    messages: dict[int, int]

    @classmethod
    def read(cls, session: Session, outreach_ids: list[int]) -> _DueRound:
        # Re-read under the locks, so a step is judged on what is current.
        by_id = {
            outreach.id: outreach
            for outreach in session.scalars(
                select(Outreach)
                .where(Outreach.id.in_(outreach_ids))
                .execution_options(populate_existing=True)
            )
        }
        outreaches = [by_id[i] for i in outreach_ids if i in by_id]
        targets = session.scalars(
            select(Target)
            .where(Target.id.in_({o.target_id for o in outreaches}))
            .execution_options(populate_existing=True)
        ).all()
        users = session.scalars(
            select(User).where(User.id.in_({o.user_id for o in outreaches}))
        ).all()
        contacts = session.scalars(
            select(Contact).where(Contact.id.in_({o.contact_id for o in outreaches}))
        ).all()
        follow_ups: dict[int, set[MessageStatus]] = {}
        rows = session.execute(
            select(Message.outreach_id, Message.status).where(
                Message.outreach_id.in_(by_id), Message.kind == MessageKind.FOLLOW_UP
            )
        )
        for outreach_id, status in rows:
            if outreach_id is not None:
                follow_ups.setdefault(outreach_id, set()).add(status)
        return cls(
            outreaches=outreaches,
            owners=[*targets, *users, *contacts],
            follow_ups=follow_ups,
            messages=cycle_message_counts(session, list(by_id)),
        )

    def decide(self, now: datetime) -> list[_Decided]:
        """The step due for each outreach, in the order they fell due (NOTHING left out)."""
        targets = {o.id: o for o in self.owners if isinstance(o, Target)}
        users = {o.id: o for o in self.owners if isinstance(o, User)}
        decided: list[_Decided] = []
        for outreach in self.outreaches:
            target, user = targets.get(outreach.target_id), users.get(outreach.user_id)
            if target is None or user is None:
                continue
            # A follow-up the user discarded counts as drafted: the cycle does not write
            # another one behind their back; it gives up when the wait runs out.
            statuses = self.follow_ups.get(outreach.id, set())
            due = cycle.Due(
                state=outreach.state,
                next_step_at=outreach.next_step_at,
                handled_by_user=outreach.handled_by_user,
                messages=self.messages.get(outreach.id, 0),
                follow_up_exists=bool(statuses),
                follow_up_in_outbox=bool(statuses & set(_IN_OUTBOX)),
            )
            rules = rules_of(target)
            step = cycle.due_step(due, rules, now)
            if step is cycle.Step.NOTHING:
                continue
            after = cycle.next_step_after(step, rules, now, calendar_of(user))
            decided.append(_Decided(outreach, target, user, due, step, after))
        return decided


# Outreaches claimed per UPDATE: a few thousand parameters, well inside SQLite's limit.
_CLAIM_CHUNK = 500


def _claim(session: Session, steps: list[_Decided]) -> set[int]:
    """Claim every step by a compare-and-set on its outreach's (state, next_step_at),
    a few hundred per UPDATE; the ids of those this caller won (another worker may
    have taken a step a moment ago)."""
    won: set[int] = set()
    for start in range(0, len(steps), _CLAIM_CHUNK):
        chunk = steps[start : start + _CLAIM_CHUNK]
        clock = Outreach.next_step_at
        statement = (
            update(Outreach)
            .where(
                or_(
                    *(
                        and_(
                            Outreach.id == step.outreach.id,
                            Outreach.state == step.due.state,
                            clock == step.due.next_step_at,
                        )
                        for step in chunk
                    )
                )
            )
            .values(
                next_step_at=case(
                    *((Outreach.id == s.outreach.id, literal(s.after, clock.type)) for s in chunk)
                )
            )
            .returning(Outreach.id)
            .execution_options(synchronize_session=False)
        )
        won.update(session.scalars(statement))
    return won


def _finish_step(
    session: Session,
    decided: _Decided,
    written: dict[int, Message | ValidationError],
    now: datetime,
    report: StepReport,
) -> None:
    outreach, target, step = decided.outreach, decided.target, decided.step
    name = outreach.contact.name
    if step is cycle.Step.DRAFT_FOLLOW_UP:
        draft = written[outreach.id]
        if isinstance(draft, ValidationError):
            skipped = f"no follow-up drafted: {draft}"
            note_about(session, outreach, "cycle:follow_up_skipped", skipped, now)
            _give_up(session, target, outreach, now, report)
            return
        maybe_auto_approve(session, decided.user, draft, now)
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
