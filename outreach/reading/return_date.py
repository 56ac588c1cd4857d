"""The day an out-of-office notice says its writer is back (pure).

The return date is read from an automatic reply's subject and new text, in English,
Spanish, French, German, Portuguese, Italian and Dutch: a date after "until", "back on",
"hasta el", "jusqu'au", "bis", "fino al", "até", "tot en met", ..., or before "wieder im
Büro", "de retour", ...; or the end of a range ("from 20 December to 3 January", "del 20 de
diciembre al 8 de enero"); or a weekday alone ("back on Monday": the next one).
When several qualify, the latest wins. A date with no such word is not taken. Dates without
a year get the year that puts them nearest on or after the arrival (a week of slack, so a
stale notice keeps its past date); a weekday given with the date picks the year. Numeric
dates are day-first, except in English text, where 12/07 may be either: the earliest reading
from the arrival on, within about six months, wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan janvier janv enero ene januar jänner jaenner gennaio janeiro januari",
        "february feb février fevrier févr fevr febrero febr februar febbraio fevereiro februari",
        "march mar mars marzo märz maerz marz mär março marco maart",
        "april apr avril avr abril abr aprile",
        "may mai mayo maggio maio mei",
        "june jun juin junio juni giugno junho",
        "july jul juillet juil julio juli luglio julho",
        "august aug août aout agosto ago augustus",
        "september sep sept septembre septiembre setiembre settembre setembro",
        "october oct octobre octubre okt oktober ottobre outubro",
        "november nov novembre noviembre novembro",
        "december dec décembre decembre déc diciembre dic dezember dez dicembre dezembro",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "monday mon lunes lundi montag",
        "tuesday tue tues martes mardi dienstag",
        "wednesday wed miércoles miercoles mercredi mittwoch",
        "thursday thu thur thurs jueves jeudi donnerstag",
        "friday fri viernes vendredi freitag",
        "saturday sat sábado sabado samedi samstag sonnabend",
        "sunday sun domingo dimanche sonntag",
    )
):
    for _name in _names.split():
        _WEEKDAYS[_name] = _number


def _alternation(names: dict[str, int]) -> str:
    return "|".join(sorted((re.escape(name) for name in names), key=len, reverse=True))


_MONTH = rf"(?P<month>{_alternation(_MONTHS)})\.?"
_WEEKDAY_NAME = rf"(?:{_alternation(_WEEKDAYS)})"
_WEEKDAY = rf"(?:(?P<weekday>{_alternation(_WEEKDAYS)})\.?,?\s+(?:the\s+|le\s+|el\s+|den\s+)?)?"
_YEAR = r"(?P<year>\d{4})"

_DAY_MONTH = re.compile(
    rf"\b{_WEEKDAY}(?P<day>\d{{1,2}})(?:st|nd|rd|th|er|e|º|°|\.)?\s*(?:of\s+|de\s+)?{_MONTH}"
    rf"(?![^\W\d_])(?:,?\s*(?:de\s+|del\s+)?{_YEAR}(?!\d))?",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"\b{_WEEKDAY}{_MONTH}\s+(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"
    rf"(?:,?\s+{_YEAR}(?!\d))?",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(?P<year>\d{4})-(?P<first>\d{1,2})-(?P<second>\d{1,2})(?!\d)")
_NUMERIC = re.compile(
    rf"\b{_WEEKDAY}(?P<first>\d{{1,2}})(?P<sep>[./-])(?P<second>\d{{1,2}})"
    r"(?:(?P=sep)(?P<year>\d{4}|\d{2}))?(?!\d|[./-]\d)",
    re.IGNORECASE,
)
_WEEKDAY_ALONE = re.compile(rf"\b(?P<weekday>{_alternation(_WEEKDAYS)})\b", re.IGNORECASE)

# Words just before a date that make it the end of the absence or the day of return. "From"
# words (as of, ab, à partir du, a partir del) are left out: they start absences as often as
# they end them; "ab dem 4.1. wieder im Büro" is caught by the word after the date instead.
_RETURN_BEFORE = re.compile(
    r"\b(?:until|till|til|untill|through|thru|back|return\w*|available again"
    r"|hasta|regres\w*|vuelta|volver\w*|volveré|reincorpor\w*"
    r"|jusqu\w*|retour|rentr\w*|reviens|reviendrai"
    r"|bis|zurück|zurueck|wieder"
    r"|fino|rientr\w*|at[ée]|regress\w*|volto|tot(?: en met)?|terug)\b",
    re.IGNORECASE,
)
# ... or just after it: "am 4.1. wieder im Büro", "le 5 janvier je serai de retour".
_RETURN_AFTER = re.compile(
    r"^\.?[\s,]*(?:\w+\s+){0,3}?(?:wieder|zurück|de retour|back|de vuelta|de regreso)\b",
    re.IGNORECASE,
)
# The joint of a range, "20 December - 3 January", "del 20 al 8", "du 20 au 5".
_RANGE_JOINT = re.compile(r"^\.?\s*(?:-|–|—|to|al|au|a|bis|until|till)\s*$", re.IGNORECASE)
_NOT_ENGLISH = re.compile(
    r"\b(?:hasta|oficina|estaré|estoy|jusqu|bureau|serai|absent|ich|bin|bis|büro|buero|zurück)\b",
    re.IGNORECASE,
)
_HORIZON = timedelta(days=183)
_YEAR_BACK = timedelta(days=366)
_YEARS_AHEAD = timedelta(days=2 * 366)
_SLACK = timedelta(days=7)


@dataclass
class _Mention:
    start: int
    end: int
    choices: list[date]


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _without_year(month: int, day: int, weekday: int | None, today: date) -> list[date]:
    """The readings of "day month" nearest after `today` (a weekday picks the year)."""
    readings = [
        found
        for year in (today.year - 1, today.year, today.year + 1, today.year + 2)
        if (found := _valid(year, month, day)) is not None and found >= today - _SLACK
    ]
    if weekday is not None:
        matching = [found for found in readings if found.weekday() == weekday]
        if matching and matching[0] - today <= timedelta(days=366):
            return matching[:1]
    return readings[:1]


def _year_of(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def _weekday_of(match: re.Match[str]) -> int | None:
    name = match.group("weekday")
    return _WEEKDAYS.get(name.lower()) if name else None


def _dated(year: int | None, month: int, day: int, weekday: int | None, today: date) -> list[date]:
    if year is None:
        return _without_year(month, day, weekday, today)
    found = _valid(year, month, day)
    # A year far from the arrival is not a return date ("with us since 3 May 2015"), or a typo.
    if found is None or not today - _YEAR_BACK <= found <= today + _YEARS_AHEAD:
        return []
    return [found]


def _mentions(text: str, today: date) -> list[_Mention]:
    english = not _NOT_ENGLISH.search(text)
    found: list[_Mention] = []
    for match in _DAY_MONTH.finditer(text):
        month = _MONTHS[match.group("month").lower()]
        choices = _dated(
            _year_of(match.group("year")), month, int(match.group("day")), _weekday_of(match), today
        )
        found.append(_Mention(match.start(), match.end(), choices))
    for match in _MONTH_DAY.finditer(text):
        month = _MONTHS[match.group("month").lower()]
        choices = _dated(
            _year_of(match.group("year")), month, int(match.group("day")), _weekday_of(match), today
        )
        found.append(_Mention(match.start(), match.end(), choices))
    for match in _ISO.finditer(text):
        exact = _valid(
            int(match.group("year")), int(match.group("first")), int(match.group("second"))
        )
        found.append(_Mention(match.start(), match.end(), [exact] if exact else []))
    for match in _NUMERIC.finditer(text):
        first, second = int(match.group("first")), int(match.group("second"))
        year, weekday = _year_of(match.group("year")), _weekday_of(match)
        readings = _dated(year, second, first, weekday, today)  # day first
        if english and match.group("sep") != ".":
            readings += _dated(year, first, second, weekday, today)  # US: month first
        # The earliest plausible reading, from the arrival on, within about six months.
        plausible = sorted(
            {reading for reading in readings if today - _SLACK <= reading <= today + _HORIZON}
        )
        if weekday is not None:
            plausible = [r for r in plausible if r.weekday() == weekday] or plausible
        found.append(_Mention(match.start(), match.end(), plausible[:1]))
    # Overlaps ("Monday 7 December 2026" is found by two patterns): keep the longest.
    found.sort(key=lambda mention: (mention.start, -(mention.end - mention.start)))
    kept: list[_Mention] = []
    for mention in found:
        if kept and mention.start < kept[-1].end:
            continue
        kept.append(mention)
    return [mention for mention in kept if mention.choices]


def _next_weekday(weekday: int, today: date) -> date:
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _anchored(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 50) : start]
    before = before.split("\n\n")[-1]
    if _RETURN_BEFORE.search(before):
        return True
    return bool(_RETURN_AFTER.search(text[end : end + 40]))


def find_return_date(text: str, received_at: datetime) -> date | None:
    """The day the writer says they are back (or the last day away), or None.

    Only the first few thousand characters are read: that is where an out-of-office
    notice says it.
    """
    text = text[:5000]
    today = received_at.date()
    mentions = _mentions(text, today)
    anchored = [m for m in mentions if _anchored(text, m.start, m.end)]
    for previous, mention in zip(mentions, mentions[1:], strict=False):
        if _RANGE_JOINT.match(text[previous.end : mention.start]):
            anchored.append(mention)
    if anchored:
        return max(mention.choices[0] for mention in anchored)
    # A weekday alone: "back on Monday", "bis Montag", "jusqu'à lundi", "hasta el lunes".
    for match in _WEEKDAY_ALONE.finditer(text):
        if any(m.start <= match.start() < m.end for m in mentions):
            continue
        if _anchored(text, match.start(), match.end()):
            return _next_weekday(_WEEKDAYS[match.group("weekday").lower()], today)
    # A date with no word saying it is the return ("away on 20 December") may as well be
    # the first day away: better no date than a wrong one.
    return None
