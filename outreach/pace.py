"""The sending pace of one mailbox: a window, a daily cap and a random gap.

The limits hold across every worker and process: a send reserves its slot with
one compare-and-set on the mailbox row, so two workers can never both take the
last place of the day or send closer together than the gap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from outreach.data_version import write_owned
from outreach.models import Mailbox, MailboxStatus
from outreach.rules.cycle import zone_of
from outreach.rules.wording import plural

# How long to wait before asking again when another worker won the race.
RACE_RETRY = timedelta(seconds=2)


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and hours [start, end) in a time zone."""

    days: frozenset[int]
    start_hour: int
    end_hour: int
    tz: ZoneInfo

    @classmethod
    def of(cls, mailbox: Mailbox, time_zone: str) -> Window:
        days = frozenset(int(ch) for ch in mailbox.window_days if ch.isdigit() and int(ch) < 7)
        return cls(days, mailbox.window_start_hour, mailbox.window_end_hour, zone_of(time_zone))

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return local.weekday() in self.days and self.start_hour <= local.hour < self.end_hour

    def next_opening(self, now: datetime) -> datetime | None:
        """The first moment at or after `now` when the window is open (None if never)."""
        if not self.days or self.start_hour >= self.end_hour:
            return None
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            opening = datetime(day.year, day.month, day.day, self.start_hour, tzinfo=self.tz)
            if day.weekday() in self.days and opening > local:
                return opening
        return None

    def local_day(self, now: datetime) -> str:
        return now.astimezone(self.tz).date().isoformat()


@dataclass(frozen=True)
class Verdict:
    """Whether a message may go now; if not, why and when to ask again."""

    allowed: bool
    reason: str = ""
    retry_at: datetime | None = None


def judge(mailbox: Mailbox, time_zone: str, now: datetime) -> Verdict:
    """Decide from the mailbox row alone whether a send may start now (pure)."""
    if mailbox.sending_paused and mailbox.status is MailboxStatus.NEEDS_SIGN_IN:
        return Verdict(
            False,
            "sending is paused: the sign-in with your mail provider expired; sign in again",
            now + timedelta(minutes=5),
        )
    if mailbox.sending_paused:
        return Verdict(
            False,
            "sending is paused: the mail server refused the password; test the connection",
            now + timedelta(minutes=5),
        )
    window = Window.of(mailbox, time_zone)
    if not window.is_open(now):
        opening = window.next_opening(now)
        return Verdict(False, "outside your sending window", opening)
    today = window.local_day(now)
    if mailbox.sent_day == today and mailbox.sent_day_count >= mailbox.daily_cap:
        tomorrow = window.next_opening(
            datetime.fromisoformat(today).replace(tzinfo=window.tz) + timedelta(days=1)
        )
        return Verdict(
            False, f"today's cap of {plural(mailbox.daily_cap, 'message')} is reached", tomorrow
        )
    if mailbox.next_send_at is not None and mailbox.next_send_at > now:
        return Verdict(False, "spacing messages out", mailbox.next_send_at)
    return Verdict(True)


def gap(mailbox: Mailbox, rng: random.Random | None = None) -> timedelta:
    low = max(0, mailbox.min_gap_seconds)
    high = max(low, mailbox.max_gap_seconds)
    return timedelta(seconds=(rng or random).uniform(low, high))


@dataclass(frozen=True)
class Slot:
    """The mailbox's next sending slot as judged from its row: what the row held then,
    and what it holds once the slot is taken (see `take`)."""

    mailbox_id: int
    user_id: int
    seen_next_send_at: datetime | None
    seen_sent_day: str | None
    seen_sent_day_count: int
    next_send_at: datetime
    sent_day: str
    sent_day_count: int


def next_slot(mailbox: Mailbox, time_zone: str, now: datetime) -> Slot | Verdict:
    """The slot a send starting now would take, or the verdict saying why none is free (pure)."""
    verdict = judge(mailbox, time_zone, now)
    if not verdict.allowed:
        return verdict
    today = Window.of(mailbox, time_zone).local_day(now)
    count = mailbox.sent_day_count + 1 if mailbox.sent_day == today else 1
    return Slot(
        mailbox.id,
        mailbox.user_id,
        mailbox.next_send_at,
        mailbox.sent_day,
        mailbox.sent_day_count,
        now + gap(mailbox),
        today,
        count,
    )


def take(session: Session, slot: Slot) -> bool:
    """Take `slot` if the mailbox row still holds what it was judged from.

    Of two workers that judged the same row, exactly one gets the slot; the
    other is told False and asks again later.
    """
    taken = write_owned(
        session,
        _TAKE,
        slot.user_id,
        {
            "mailbox_id": slot.mailbox_id,
            "seen_next_send_at": slot.seen_next_send_at,
            "seen_sent_day": slot.seen_sent_day,
            "seen_sent_day_count": slot.seen_sent_day_count,
            "new_next_send_at": slot.next_send_at,
            "new_sent_day": slot.sent_day,
            "new_sent_day_count": slot.sent_day_count,
        },
    )
    return taken.rowcount == 1


# Built once, its values bound at each send (a compare-and-set: see `take`).
_TAKE = (
    update(Mailbox)
    .where(
        Mailbox.id == bindparam("mailbox_id"),
        Mailbox.next_send_at.is_not_distinct_from(bindparam("seen_next_send_at")),
        Mailbox.sent_day.is_not_distinct_from(bindparam("seen_sent_day")),
        Mailbox.sent_day_count == bindparam("seen_sent_day_count"),
        Mailbox.sending_paused.is_(False),
    )
    .values(
        next_send_at=bindparam("new_next_send_at"),
        sent_day=bindparam("new_sent_day"),
        sent_day_count=bindparam("new_sent_day_count"),
    )
)


# What a send that lost the race for its mailbox's slot is told.
SLOT_TAKEN = "another message from this mailbox is going out"


def reserve(session: Session, mailbox: Mailbox, time_zone: str, now: datetime) -> Verdict:
    """Take the mailbox's next sending slot, or say why not.

    The update only succeeds if the row still holds what `judge` saw, so of two
    workers that judged at once, exactly one gets the slot.
    """
    slot = next_slot(mailbox, time_zone, now)
    if isinstance(slot, Verdict):
        return slot
    if not take(session, slot):
        return Verdict(False, SLOT_TAKEN, now + RACE_RETRY)
    return Verdict(True)


def typical_gap(mailbox: Mailbox) -> timedelta:
    """The gap between two messages on average (the middle of the random range)."""
    low = max(0, mailbox.min_gap_seconds)
    high = max(low, mailbox.max_gap_seconds)
    return timedelta(seconds=(low + high) / 2)


# Further ahead than this, a forecast says nothing useful (and a cap of 1 a day
# behind a long queue would loop for a long time).
_FORECAST_DAYS = 60


def expected_departures(
    mailbox: Mailbox, time_zone: str, now: datetime, not_before: Sequence[datetime | None]
) -> list[datetime | None]:
    """When each waiting message is expected to leave, in the order they wait (pure).

    `not_before` holds, for each message, its own earliest moment (a retry's
    next attempt) or None. The pace is played forward: the window, the daily
    cap and the typical gap between messages, from the mailbox's own state. None
    for a message the pace never lets go (a window with no hours, a paused
    mailbox) or one more than two months ahead.
    """
    if mailbox.sending_paused:
        return [None for _ in not_before]
    window = Window.of(mailbox, time_zone)
    free_at = max(now, mailbox.next_send_at or now)
    day, count = mailbox.sent_day, mailbox.sent_day_count
    horizon = now + timedelta(days=_FORECAST_DAYS)
    spacing = typical_gap(mailbox)
    departures: list[datetime | None] = []
    for own in not_before:
        moment: datetime | None = max(free_at, own or free_at)
        while moment is not None and moment < horizon:
            opening = window.next_opening(moment)
            if opening is None:
                moment = None
                break
            today = window.local_day(opening)
            if day == today and count >= mailbox.daily_cap:
                midnight = datetime.fromisoformat(today).replace(tzinfo=window.tz)
                moment = midnight + timedelta(days=1)
                continue
            moment = opening
            break
        if moment is None or moment >= horizon:
            departures.append(None)
            continue
        today = window.local_day(moment)
        count = count + 1 if day == today else 1
        day = today
        free_at = moment + spacing
        departures.append(moment)
    return departures
