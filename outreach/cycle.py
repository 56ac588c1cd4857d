"""Business-day arithmetic for the outreach cycle (pure: `now` is always an argument)."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(start: datetime, days: int) -> datetime:
    """The moment `days` business days after `start`, same time of day."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current.date()):
            remaining -= 1
    return current


def business_days_between(start: datetime, end: datetime) -> int:
    """Whole business days from `start` to `end` (0 when `end` is not later)."""
    count = 0
    day = start.date()
    while day < end.date():
        day += timedelta(days=1)
        if is_business_day(day):
            count += 1
    return count
