"""Meeting times: the user's wall clock to UTC and back, in words."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from outreach.models import Meeting, MeetingStatus
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


class MeetingSection(StrEnum):
    """Where a meeting is listed: one answer per meeting, from its status and the clock."""

    TO_CONFIRM = "to_confirm"
    COMING_UP = "coming_up"
    HELD = "held"
    CANCELLED = "cancelled"


def is_over(meeting: Meeting, now: datetime) -> bool:
    return ends_at(meeting) <= now


def section_of(meeting: Meeting, now: datetime) -> MeetingSection:
    """A scheduled meeting whose end has passed is held, even before the sweep records it.

    The scheduler marks it held (and drafts the thank-you) on its next sweep; until
    then the page must not list a conversation that is over as "coming up".
    """
    if meeting.status is MeetingStatus.PROPOSED:
        return MeetingSection.TO_CONFIRM
    if meeting.status is MeetingStatus.CANCELLED:
        return MeetingSection.CANCELLED
    if meeting.status is MeetingStatus.HELD or is_over(meeting, now):
        return MeetingSection.HELD
    return MeetingSection.COMING_UP
