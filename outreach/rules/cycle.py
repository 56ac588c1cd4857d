"""The cycle's rules as pure functions: the business-day clock and each decision it takes.

Nothing here touches the database, and `now` is always an argument. The use
cases (outreach.targets, outreach.scheduler, outreach.watching, outreach.sending)
call these functions with what they read, and the property tests call the same
functions on an in-memory model, so the rules are written and tested once.

Business days are counted in the user's time zone, skipping weekends and the
user's holidays: a request sent on a Friday evening in Auckland waits from
Monday there, whatever the server's clock says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.errors import ValidationError
from outreach.rules.states import OutreachState

# Never more than this many messages (request and follow-up) to one person in a cycle.
MAX_MESSAGES_PER_PERSON = 2
# An automatic reply that gives no return date holds the clock this many business days.
AWAY_WITHOUT_DATE_BUSINESS_DAYS = 5
# A follow-up approved but still in the outbox (outside the sending window, the
# daily cap reached) is not given up on: the clock looks again after this many.
OUTBOX_GRACE_BUSINESS_DAYS = 1

# States in which an outreach occupies one of the target's "in flight" places.
IN_FLIGHT = frozenset({OutreachState.DRAFTED, OutreachState.WAITING, OutreachState.FOLLOWED_UP})
# States in which a clock runs (next_step_at) and the scheduler may act.
CLOCKED = frozenset({OutreachState.WAITING, OutreachState.FOLLOWED_UP})

_SEPARATORS = re.compile(r"[\s,;]+")


# --- the business-day clock -------------------------------------------------------------------


def parse_holidays(text: str) -> frozenset[date]:
    """ISO dates (2026-12-25), one per line or separated by commas or spaces.

    A `#` starts a comment to the end of its line, so a list can say what each day is.

    :raise ValidationError: naming the line that is not a date.
    """
    days: set[date] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0]
        for word in _SEPARATORS.split(words.strip()):
            if not word:
                continue
            try:
                days.add(date.fromisoformat(word))
            except ValueError:
                raise ValidationError(
                    f"line {number} of your holidays, '{line.strip()}', is not a date "
                    "written as year-month-day, such as 2026-12-25"
                ) from None
    return frozenset(days)


def _lenient_holidays(text: str) -> frozenset[date]:
    """Holidays from stored text, skipping anything that is not a date (checked on input)."""
    days: set[date] = set()
    for line in text.splitlines():
        for word in _SEPARATORS.split(line.split("#", 1)[0].strip()):
            try:
                days.add(date.fromisoformat(word))
            except ValueError:
                continue
    return frozenset(days)


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`, or UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days count, in which time zone."""

    zone: ZoneInfo = ZoneInfo("UTC")
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, time_zone: str, holidays: str) -> BusinessCalendar:
        """A user's calendar from their stored settings (User.time_zone, User.holidays)."""
        return cls(zone_of(time_zone), _lenient_holidays(holidays))

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _at(self, day: date, clock: time) -> datetime:
        """The moment `day` at the wall-clock time `clock`, in this zone, in UTC."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def add(self, start: datetime, days: int) -> datetime:
        """The moment `days` business days after `start`, same local time of day."""
        local = start.astimezone(self.zone)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        return self._at(day, local.time().replace(tzinfo=None)).astimezone(start.tzinfo)

    def between(self, start: datetime, end: datetime) -> int:
        """Whole business days from `start` to `end` (0 when `end` is not later)."""
        day = self.local_date(start)
        last = self.local_date(end)
        count = 0
        while day < last:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count += 1
        return count

    def day_after_return(self, return_date: date, clock_of: datetime) -> datetime:
        """One business day after `return_date`, at the local time of day of `clock_of`."""
        local_clock = clock_of.astimezone(self.zone).time().replace(tzinfo=None)
        return self.add(self._at(return_date, local_clock), 1)


UTC_CALENDAR = BusinessCalendar()


def compressed_due(
    clock_set_at: datetime, clock: datetime, calendar: BusinessCalendar, day_seconds: float
) -> datetime:
    """When the sandbox brings forward a clock set at `clock_set_at` for `clock`.

    In the sandbox a business day lasts `day_seconds` (decision 0009), so a wait of
    N business days ends N x day_seconds after the clock was set (one day at least).
    The sandbox's time warp acts on it and the board says it, from this one rule.
    """
    days = max(1, calendar.between(clock_set_at, clock))
    return clock_set_at + timedelta(seconds=days * day_seconds)


def is_business_day(day: date, holidays: Iterable[date] = ()) -> bool:
    return day.weekday() < 5 and day not in frozenset(holidays)


def add_business_days(
    start: datetime,
    days: int,
    *,
    holidays: Iterable[date] = (),
    time_zone: str = "UTC",
) -> datetime:
    """The moment `days` business days after `start`, same time of day in `time_zone`."""
    return BusinessCalendar(zone_of(time_zone), frozenset(holidays)).add(start, days)


def business_days_between(
    start: datetime,
    end: datetime,
    *,
    holidays: Iterable[date] = (),
    time_zone: str = "UTC",
) -> int:
    """Whole business days from `start` to `end`, counted on `time_zone`'s calendar."""
    return BusinessCalendar(zone_of(time_zone), frozenset(holidays)).between(start, end)


# --- the rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """A target's settings, as the cycle reads them."""

    max_in_flight: int = 1
    wait_business_days: int = 5
    send_follow_up: bool = True
    give_up_business_days: int = 5
    allow_same_organisation: bool = False
    paused: bool = False


class Step(StrEnum):
    """What the clock does when an outreach's next_step_at has passed."""

    NOTHING = "nothing"
    DRAFT_FOLLOW_UP = "draft_follow_up"
    # A follow-up is approved and in the outbox: look again a little later.
    POSTPONE = "postpone"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Due:
    """An outreach's clock as the scheduler sees it."""

    state: OutreachState
    next_step_at: datetime | None
    handled_by_user: bool
    # Outbound requests and follow-ups for this outreach that are not cancelled.
    messages: int
    # A follow-up was drafted (even if cancelled since: the cycle writes one, once);
    # `follow_up_in_outbox`: one is approved and not yet sent.
    follow_up_exists: bool = False
    follow_up_in_outbox: bool = False


def due_step(due: Due, rules: Rules, now: datetime) -> Step:
    """The step to take for one outreach at `now` (NOTHING when none is due)."""
    if rules.paused or due.handled_by_user or due.state not in CLOCKED:
        return Step.NOTHING
    if due.next_step_at is None or due.next_step_at > now:
        return Step.NOTHING
    if due.state is OutreachState.WAITING:
        if (
            rules.send_follow_up
            and not due.follow_up_exists
            and due.messages < MAX_MESSAGES_PER_PERSON
        ):
            return Step.DRAFT_FOLLOW_UP
        if due.follow_up_in_outbox:
            return Step.POSTPONE
    return Step.GIVE_UP


def next_step_after(
    step: Step, rules: Rules, now: datetime, calendar: BusinessCalendar
) -> datetime | None:
    """The outreach's next_step_at once `step` is taken at `now`."""
    if step is Step.DRAFT_FOLLOW_UP:
        # Should the follow-up never be approved, the cycle still moves on.
        return calendar.add(now, rules.give_up_business_days)
    if step is Step.POSTPONE:
        return calendar.add(now, OUTBOX_GRACE_BUSINESS_DAYS)
    return None


def clock_after_sending(
    sent: OutreachState, rules: Rules, now: datetime, calendar: BusinessCalendar
) -> datetime:
    """next_step_at once a message moved the outreach to `sent` (WAITING or FOLLOWED_UP)."""
    if sent is OutreachState.FOLLOWED_UP:
        return calendar.add(now, rules.give_up_business_days)
    return calendar.add(now, rules.wait_business_days)


def clock_after_auto_reply(
    current: datetime | None,
    return_date: date | None,
    now: datetime,
    calendar: BusinessCalendar,
) -> datetime | None:
    """next_step_at after an automatic reply: one business day after the return date,
    or AWAY_WITHOUT_DATE_BUSINESS_DAYS from now without one; never earlier than it was.

    None stays None: a clock that was not running (the user handles it) is not started.
    """
    if current is None:
        return None
    if return_date is not None:
        pushed = calendar.day_after_return(return_date, current)
    else:
        pushed = calendar.add(now, AWAY_WITHOUT_DATE_BUSINESS_DAYS)
    return max(current, pushed)


@dataclass(frozen=True)
class Candidate:
    """One name on a target's list, as the pipeline sees it, in list order."""

    key: int
    state: OutreachState
    organisation: str
    do_not_contact: bool
    # Requests and follow-ups already drafted for this outreach (not cancelled).
    messages: int = 0
    # The same person is in flight on another of the user's targets.
    busy_elsewhere: bool = False
    # An earlier answer on another list says not to ask them again (rules.never_again).
    never_again: bool = False


def organisation_key(organisation: str) -> str:
    """Organisations compare without case or extra spaces; an empty one matches nothing."""
    return " ".join(organisation.lower().split())


def pick_next(candidates: Sequence[Candidate], rules: Rules) -> list[int]:
    """The keys of the planned names to draft now, in list order.

    Fills the free places up to max_in_flight. A do-not-contact name is never
    picked; a name at an organisation that already has someone in flight waits
    its turn (unless the target allows it); so does a person in flight elsewhere.
    A person held back by rules.never_again is never picked.
    """
    if rules.paused:
        return []
    busy = sum(1 for candidate in candidates if candidate.state in IN_FLIGHT)
    organisations = {
        organisation_key(candidate.organisation)
        for candidate in candidates
        if candidate.state in IN_FLIGHT
    }
    organisations.discard("")
    picked: list[int] = []
    for candidate in candidates:
        if busy >= rules.max_in_flight:
            break
        if (
            candidate.state is not OutreachState.PLANNED
            or candidate.do_not_contact
            or candidate.busy_elsewhere
            or candidate.never_again
            or candidate.messages >= MAX_MESSAGES_PER_PERSON
        ):
            continue
        organisation = organisation_key(candidate.organisation)
        if organisation and organisation in organisations and not rules.allow_same_organisation:
            continue
        picked.append(candidate.key)
        organisations.add(organisation)
        organisations.discard("")
        busy += 1
    return picked
