"""A meeting's time in words for an email, with its zone, and the contact's own when known.

"Tuesday 8 December at 15:00 London time, 10:00 in New York": the user's wall clock
first (they arranged it), then the contact's, named by the city of their IANA zone.
A contact in the user's zone, or whose zone is not known, reads the user's time alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_zone(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is empty or not a zone."""
    if not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset_words(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def city_of(zone: ZoneInfo) -> str | None:
    """ "Europe/London" -> "London", "America/Argentina/Buenos_Aires" -> "Buenos Aires";
    None for zones named by an offset ("UTC", "Etc/GMT+5")."""
    key = zone.key
    if "/" not in key or key.startswith("Etc/"):
        return None
    return key.rsplit("/", 1)[1].replace("_", " ")


def _day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B}"


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def _users_time(here: datetime, zone: ZoneInfo) -> str:
    city = city_of(zone)
    return (
        f"{_clock(here)} {city} time"
        if city
        else f"{_clock(here)} {_offset_words(here.utcoffset())}"
    )


def _contacts_time(there: datetime, zone: ZoneInfo, day_differs: bool) -> str:
    city = city_of(zone)
    on_day = f" on {_day(there)}" if day_differs else ""
    if city:
        return f"{_clock(there)}{on_day} in {city}"
    return f"{_clock(there)}{on_day} {_offset_words(there.utcoffset())}"


def time_with_zones(moment: datetime, user_zone: str, contact_zone: str = "") -> str:
    """ "15:00 London time, 10:00 in New York"; the contact's day is named when it differs
    ("23:00 London time, 08:00 on Wednesday 9 December in Tokyo")."""
    mine = known_zone(user_zone) or ZoneInfo("UTC")
    here = moment.astimezone(mine)
    words = _users_time(here, mine)
    theirs = known_zone(contact_zone)
    if theirs is None or theirs.key == mine.key:
        return words
    there = moment.astimezone(theirs)
    return f"{words}, {_contacts_time(there, theirs, there.date() != here.date())}"


def day_in_words(moment: datetime, user_zone: str) -> str:
    """ "Tuesday 8 December", in the user's zone."""
    return _day(moment.astimezone(known_zone(user_zone) or ZoneInfo("UTC")))


def when_with_zones(moment: datetime, user_zone: str, contact_zone: str = "") -> str:
    """ "Tuesday 8 December at 15:00 London time, 10:00 in New York"."""
    return (
        f"{day_in_words(moment, user_zone)} at {time_with_zones(moment, user_zone, contact_zone)}"
    )
