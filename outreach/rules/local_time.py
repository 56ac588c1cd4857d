"""Moments in the user's own time zone, in words: the one place the dashboard formats a time.

The database keeps UTC; every page, flash and CLI line that shows a moment to a
person says it on that person's clock (User.time_zone, an IANA name; UTC when
empty or unknown). Pure functions of the moment, the zone and, where the words
depend on it, the present moment.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from outreach.rules.cycle import zone_of

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def zoned(moment: datetime, time_zone: str) -> datetime:
    """`moment` on the clock of `time_zone`."""
    return moment.astimezone(zone_of(time_zone))


def date_and_time(moment: datetime, time_zone: str) -> str:
    """ "24 Nov 2026, 10:30"."""
    here = zoned(moment, time_zone)
    return f"{here.day} {here:%b %Y, %H:%M}"


def weekday_date_and_time(moment: datetime, time_zone: str) -> str:
    """ "Thu 3 Dec 2026, 14:00"."""
    here = zoned(moment, time_zone)
    return f"{DAY_NAMES[here.weekday()]} {here.day} {here:%b %Y, %H:%M}"


def date_only(moment: datetime, time_zone: str) -> str:
    """ "24 Nov 2026"."""
    here = zoned(moment, time_zone)
    return f"{here.day} {here:%b %Y}"


def clock_time(moment: datetime, time_zone: str) -> str:
    """ "15:00"."""
    return f"{zoned(moment, time_zone):%H:%M}"


def local_date(moment: datetime, time_zone: str) -> date:
    return zoned(moment, time_zone).date()


def soon(moment: datetime, time_zone: str, now: datetime) -> str:
    """A moment as short as is clear from `now`.

    "in 2 min" within the hour ahead, "today at 14:05" later today, "Wed 08:00"
    within the coming week, "Wed 2 Dec 08:00" further off or in the past.
    """
    ahead = moment - now
    here = zoned(moment, time_zone)
    if timedelta(0) <= ahead < timedelta(hours=1):
        minutes = max(1, round(ahead.total_seconds() / 60))
        return f"in {minutes} min" if ahead >= timedelta(seconds=30) else "in under a minute"
    if timedelta(0) <= ahead and here.date() == local_date(now, time_zone):
        return f"today at {here:%H:%M}"
    if timedelta(0) <= ahead < timedelta(days=6):
        return f"{DAY_NAMES[here.weekday()]} {here:%H:%M}"
    return f"{DAY_NAMES[here.weekday()]} {here.day} {here:%b %H:%M}"
