"""Small helpers every view uses: the clock, core errors as sentences, times and pace in words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from outreach import clock
from outreach.models import Mailbox
from outreach.reading.quoting import history_start
from outreach.rules.cycle import zone_of


def now() -> datetime:
    """The one clock of the dashboard: an aware UTC datetime for the use cases."""
    return clock.now()


def sentence(error: Exception | str) -> str:
    """Core messages are lower-case clauses; show them as a sentence.

    Only a plain word is capitalised: "twice@example.org is ..." keeps its address.
    """
    text = str(error).strip()
    if not text:
        return "Something went wrong."
    first = text.split()[0]
    if first.isalpha() and first.islower():
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def when(value: datetime | None) -> str:
    """A moment as the dashboard shows it: "24 Nov 2026, 09:30 UTC"."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def day(value: datetime | None) -> str:
    """A date for tight columns: "24 Nov 2026"."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%d %b %Y").lstrip("0")


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def local(value: datetime, time_zone: str, reference: datetime) -> str:
    """A moment in the user's zone, as short as is clear from `reference` (now).

    "Wed 08:00" within the coming week, "Wed 2 Dec 08:00" further off or in the past.
    """
    here = value.astimezone(zone_of(time_zone))
    ahead = value - reference
    if timedelta(0) <= ahead < timedelta(days=6):
        return f"{DAY_NAMES[here.weekday()]} {here:%H:%M}"
    return f"{DAY_NAMES[here.weekday()]} {here.day} {here:%b %H:%M}"


def local_date(value: datetime, time_zone: str) -> str:
    """A moment in the user's zone with its date: "24 Nov 2026, 10:30"."""
    here = value.astimezone(zone_of(time_zone))
    return f"{here.day} {here:%b %Y, %H:%M}"


def _day_runs(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ", ".join(parts)


def _minutes(seconds: int) -> str:
    if seconds % 60 == 0:
        return str(seconds // 60)
    return f"{seconds / 60:.1f}".rstrip("0").rstrip(".")


def pace_in_words(mailbox: Mailbox) -> str:
    """ "up to 30 a day, Mon–Fri 08:00–18:00, 1–4 minutes apart"."""
    days = sorted({int(ch) for ch in mailbox.window_days if ch.isdigit() and int(ch) < 7})
    if len(days) == 7:
        when_days = "every day"
    elif not days:
        when_days = "on no day"
    else:
        when_days = _day_runs(days)
    start, end = mailbox.window_start_hour, mailbox.window_end_hour
    hours = "at any hour" if (start, end) == (0, 24) else f"{start:02d}:00–{end:02d}:00"
    low, high = mailbox.min_gap_seconds, mailbox.max_gap_seconds
    if high <= 0:
        spacing = "with no gap between messages"
    elif low == high:
        unit = "minute" if high == 60 else "minutes"
        spacing = f"{_minutes(high)} {unit} apart"
    else:
        spacing = f"{_minutes(low)}–{_minutes(high)} minutes apart"
    return f"up to {mailbox.daily_cap} a day, {when_days} {hours}, {spacing}"


def mark_gaps(text: str, gaps: Iterable[str]) -> Markup:
    """The text, escaped, with each gap still to be filled in marked, so the eye finds it,
    and the earlier message it quotes below (a follow-up's request) set apart as a quote."""
    cut = history_start(text)
    marked = escape(text[:cut])
    for gap in gaps:
        shown = escape(gap)
        marked = marked.replace(shown, Markup('<mark class="gap">') + shown + Markup("</mark>"))
    if cut < len(text):
        quote = escape(text[cut:])
        marked += Markup('<span class="quoted" data-part="quoted">') + quote + Markup("</span>")
    return marked
