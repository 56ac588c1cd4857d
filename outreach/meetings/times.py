"""Meeting times: the user's wall clock to UTC and back, in words."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from outreach.models import Meeting
from outreach.rules.cycle import zone_of


def local_to_utc(day: date, at: time, time_zone: str) -> datetime:
    """The UTC moment of a wall-clock date and time in `time_zone`.

    On the night clocks go back, the first of the two moments is taken; a time
    skipped when clocks go forward is moved on by the jump, as a clock would.
    """
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone_of(time_zone))
    return local.astimezone(UTC)


def ends_at(meeting: Meeting) -> datetime:
    return meeting.starts_at + timedelta(minutes=meeting.duration_minutes)


def when_in_words(moment: datetime, time_zone: str) -> str:
    """ "Thursday 3 December 2026, 14:00 (Europe/London)"."""
    here = moment.astimezone(zone_of(time_zone))
    return f"{here:%A} {here.day} {here:%B %Y, %H:%M} ({time_zone or 'UTC'})"


def describe(meeting: Meeting, time_zone: str) -> str:
    where = meeting.place.strip().splitlines()
    at = f", {where[0]}" if where else ""
    return f"{when_in_words(meeting.starts_at, time_zone)}, {meeting.duration_minutes} min{at}"
