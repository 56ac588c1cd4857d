"""The user's usual free times, and the next moments they offer a contact (pure).

Written on the profile one a line, in the user's own time zone:

    Mon-Fri 12:30-13:30
    Tue 16:00-18:00
    Sat 10:00-12:00

A reply offers the start of each window on the next days it falls on, from tomorrow
(a time for the same day is too short notice for a stranger), skipping the user's
holidays and what is already planned.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from outreach.errors import ValidationError
from outreach.rules.cycle import zone_of

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_LINES = 30
# How far ahead a reply looks for times to offer.
LOOK_AHEAD_DAYS = 21
OFFERED = 5
# The hours of a contact's own day a time is offered in, on their wall clock.
THEIR_DAY = (time(8, 0), time(20, 0))

_LINE = re.compile(
    r"^(?P<first>[A-Za-z]{3})[a-z]*(?:\s*-\s*(?P<last>[A-Za-z]{3})[a-z]*)?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True)
class FreeWindow:
    """One weekday (0 = Monday) and a stretch of wall-clock time on it."""

    weekday: int
    start: time
    end: time


def _day(word: str, line: str) -> int:
    try:
        return [name.lower() for name in DAY_NAMES].index(word[:3].lower())
    except ValueError:
        raise ValidationError(f"'{line}': '{word}' is not a day (Mon, Tue ... Sun)") from None


def _clock(text: str, line: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValidationError(f"'{line}': '{text}' is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)


def parse_free_times(text: str) -> list[FreeWindow]:
    """The windows written in `text`; text after # is a note.

    :raise ValidationError: naming the line that cannot be read.
    """
    windows: list[FreeWindow] = []
    lines = [line.split("#", 1)[0].strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        raise ValidationError(f"at most {MAX_LINES} lines of free times, please")
    for line in lines:
        found = _LINE.match(line)
        if found is None:
            raise ValidationError(
                f"'{line[:60]}' is not read as free time: write a day or days and two times, "
                "as in 'Mon-Fri 12:30-13:30'"
            )
        first = _day(found["first"], line)
        last = _day(found["last"], line) if found["last"] else first
        start, end = _clock(found["start"], line), _clock(found["end"], line)
        if end <= start:
            raise ValidationError(f"'{line}': the end comes before the start")
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        windows.extend(FreeWindow(day, start, end) for day in days)
    return windows


def check_free_times(text: str) -> str:
    """`text` tidied, one window a line, once it reads.

    :raise ValidationError: as parse_free_times.
    """
    parse_free_times(text)
    return "\n".join(
        line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()
    )


def next_free_slots(
    windows: Sequence[FreeWindow],
    time_zone: str,
    now: datetime,
    *,
    duration_minutes: int = 30,
    busy: Collection[tuple[datetime, datetime]] = (),
    days_off: Collection[date] = (),
    their_zone: str = "",
    count: int = OFFERED,
) -> list[datetime]:
    """The next `count` starts of a free window, as UTC moments, from tomorrow in the user's zone.

    A window shorter than the meeting offers nothing; one overlapping a `busy` span
    (start, end) or on a day off is left out, and so is one outside the contact's
    day (THEIR_DAY, in `their_zone`) when their zone is known: a stranger is not
    asked to talk at 05:00.
    """
    zone = zone_of(time_zone)
    today = now.astimezone(zone).date()
    length = timedelta(minutes=duration_minutes)
    found: list[datetime] = []
    for offset in range(1, LOOK_AHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if day in days_off:
            continue
        for window in sorted(
            (one for one in windows if one.weekday == day.weekday()), key=lambda one: one.start
        ):
            start = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(day, window.end, tzinfo=zone).astimezone(UTC)
            if end - start < length:
                continue
            if any(
                start < taken_end and taken_start < start + length
                for taken_start, taken_end in busy
            ):
                continue
            if their_zone and not _in_their_day(start, start + length, their_zone):
                continue
            if start not in found:
                found.append(start)
            if len(found) >= count:
                return found
    return found


def _in_their_day(start: datetime, end: datetime, their_zone: str) -> bool:
    first, last = THEIR_DAY
    begins, ends = start.astimezone(zone_of(their_zone)), end.astimezone(zone_of(their_zone))
    return begins.date() == ends.date() and first <= begins.time() and ends.time() <= last


def slot_in_words(moment: datetime, time_zone: str) -> str:
    """ "Tuesday 8 December at 14:00", on the wall clock of `time_zone`."""
    here = moment.astimezone(zone_of(time_zone))
    return f"{here:%A} {here.day} {here:%B} at {here:%H:%M}"


def slot_sentence(
    moment: datetime, my_zone: str, their_zone: str = "", duration_minutes: int = 30
) -> str:
    """The sentence a reply proposes the time with, in both zones when they differ."""
    mine = my_zone or "UTC"
    said = (
        f"Would {slot_in_words(moment, mine)} ({mine}) suit you "
        f"for a {duration_minutes}-minute conversation?"
    )
    if their_zone and zone_of(their_zone).key != zone_of(mine).key:
        theirs = moment.astimezone(zone_of(their_zone))
        said = said[:-1] + f", that is {theirs:%H:%M} on {theirs:%A} your time ({their_zone})?"
    return said
