"""One place for a change of an outreach's state and everything that follows from it.

`transition` moves an outreach by a trigger (outreach.rules.states holds the rules) and
then does what the cycle requires of that step, so that the poller, the worker,
the dashboard, the CLI and the user's corrections all drive the cycle the same way:

- an answer, a decline or a failed address stops all automation: the clock
  stops and unsent requests and follow-ups are cancelled;
- a step that frees a place on the list (a decline, a bounce, giving up, the
  user stopping a name) drafts the next name at once, under the target's lock;
- a request or follow-up sent starts the clock for the next step;
- a thank-you sent sets the day of the keep-in-touch update;
- the user correcting a bounced address (ADDRESS_CORRECTED) puts the outreach back on
  the list, changing nothing else: outreach.contact_changes drafts the request again.

`pause_for_absence` is the one consequence that changes no state: an automatic
reply holds the clock while the person is away.

Drafting a request (PLANNED -> DRAFTED) is itself a consequence of a freed place:
outreach.drafts records that step with timeline.advance, below this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from outreach.drafts import cancel_unsent
from outreach.models import Message, MessageKind, Outreach, Target, User
from outreach.rules.cycle import (
    AWAY_WITHOUT_DATE_BUSINESS_DAYS,
    UTC_CALENDAR,
    Rules,
    clock_after_auto_reply,
    clock_after_sending,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.targets import calendar_of, fill_pipeline, lock_target, rules_of
from outreach.timeline import advance

# The keep-in-touch update's distance after the thank-you: a short note months
# later keeps the connection alive.
KEEP_IN_TOUCH_AFTER = timedelta(days=91)

_BOTH = (MessageKind.REQUEST, MessageKind.FOLLOW_UP)

# Steps after which nothing automatic may go to the person: (why, which kinds are called off).
_CANCELS: dict[Trigger, tuple[str, tuple[MessageKind, ...]]] = {
    Trigger.REPLY_RECEIVED: ("cancelled: they replied, so nothing automatic goes to them", _BOTH),
    Trigger.DECLINE_RECEIVED: ("cancelled: they declined", _BOTH),
    Trigger.BOUNCE_RECEIVED: ("cancelled: the address failed", _BOTH),
    Trigger.WAIT_EXPIRED: (
        "cancelled: not approved before the cycle moved on",
        (MessageKind.FOLLOW_UP,),
    ),
    Trigger.STOPPED_BY_USER: ("cancelled: taken off the list", _BOTH),
}

# Steps that take the outreach out of flight, so the next name on the list gets its place.
_FREES_A_PLACE = frozenset(
    {
        Trigger.DECLINE_RECEIVED,
        Trigger.BOUNCE_RECEIVED,
        Trigger.WAIT_EXPIRED,
        Trigger.STOPPED_BY_USER,
    }
)

# An answer, whatever it says, ends any absence we were waiting out.
_ENDS_ABSENCE = frozenset(
    {Trigger.REPLY_RECEIVED, Trigger.DECLINE_RECEIVED, Trigger.BOUNCE_RECEIVED}
)

_STARTS_CLOCK = frozenset({Trigger.REQUEST_SENT, Trigger.FOLLOW_UP_SENT})


@dataclass(frozen=True)
class Transition:
    """What a transition did, for the caller to report."""

    state: OutreachState
    # Unsent messages the step called off.
    cancelled: list[Message] = field(default_factory=list)
    # Requests drafted to the next names, into the place the step freed.
    drafted: list[Message] = field(default_factory=list)


def transition(
    session: Session,
    outreach: Outreach,
    trigger: Trigger,
    now: datetime,
    detail: str = "",
    message_id: int | None = None,
    *,
    cancelled_because: str | None = None,
) -> Transition:
    """Move `outreach` by `trigger`, record it on the timeline, and do what follows.

    `detail` is the timeline's words for the step; `message_id` the message that
    caused it; `cancelled_because` replaces the usual reason written on the
    messages the step cancels.

    :raise InvalidTransition: when the state machine does not allow the step
        (nothing has changed then).
    """
    frees_a_place = trigger in _FREES_A_PLACE
    if frees_a_place:
        # The target before the outreach: the order every writer locks them in.
        lock_target(session, outreach.target_id)
    after = advance(session, outreach, trigger, now, detail, message_id)
    if trigger in _STARTS_CLOCK:
        start_clock(session, outreach, after, now)
    elif trigger is Trigger.THANK_YOU_SENT:
        outreach.keep_in_touch_at = now + KEEP_IN_TOUCH_AFTER
    elif trigger in _CANCELS:
        outreach.next_step_at = None
    if trigger in _ENDS_ABSENCE:
        outreach.away_until = None
    cancelled: list[Message] = []
    if trigger in _CANCELS:
        reason, kinds = _CANCELS[trigger]
        cancelled = cancel_unsent(session, outreach, now, cancelled_because or reason, kinds)
    drafted = _fill_freed_place(session, outreach, now) if frees_a_place else []
    return Transition(after, cancelled, drafted)


def start_clock(
    session: Session, outreach: Outreach, state: OutreachState, sent_at: datetime
) -> None:
    """Set the next step's date for `state`, begun by a message sent at `sent_at`.

    The request starts the wait for the follow-up; the follow-up, the wait before
    giving up. The user writing to them themselves stops the clock for good.
    """
    if outreach.handled_by_user:
        outreach.next_step_at = None
        return
    target = session.get(Target, outreach.target_id)
    user = session.get(User, outreach.user_id)
    rules = rules_of(target) if target is not None else Rules()
    calendar = calendar_of(user) if user is not None else UTC_CALENDAR
    outreach.next_step_at = clock_after_sending(state, rules, sent_at, calendar)


def _fill_freed_place(session: Session, outreach: Outreach, now: datetime) -> list[Message]:
    user = session.get(User, outreach.user_id)
    target = session.get(Target, outreach.target_id)
    if user is None or target is None:
        return []
    # transition() took the target's lock before moving the outreach.
    return fill_pipeline(session, user, target, now, locked=True)


def pause_for_absence(
    session: Session, outreach: Outreach, return_date: date | None, now: datetime
) -> str:
    """Hold the clock while they are away; returns the timeline's words for it."""
    user = session.get(User, outreach.user_id)
    calendar = calendar_of(user) if user is not None else UTC_CALENDAR
    before = outreach.next_step_at
    outreach.next_step_at = clock_after_auto_reply(before, return_date, now, calendar)
    if return_date is not None:
        outreach.away_until = max(return_date, outreach.away_until or return_date)
    when = outreach.next_step_at
    resumes = f"{when.astimezone(calendar.zone):%a %d %b}" if when is not None else "later"
    if return_date is not None:
        return (
            f"automatic reply: away until {return_date:%A %d %B %Y}; "
            f"the clock waits until {resumes}"
        )
    return (
        "automatic reply with no return date: the clock waits "
        f"{AWAY_WITHOUT_DATE_BUSINESS_DAYS} business days, until {resumes}"
    )
