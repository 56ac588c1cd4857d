"""Small helpers every view uses: the clock, core errors as sentences, times and pace in words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from markupsafe import Markup, escape

from outreach import clock
from outreach.models import Mailbox
from outreach.reading.quoting import history_start
from outreach.rules import local_time
from outreach.rules.local_time import DAY_NAMES as DAY_NAMES


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


def when(value: datetime | None, time_zone: str = "UTC") -> str:
    """A moment as the dashboard shows it, on the user's clock: "24 Nov 2026, 09:30"."""
    if value is None:
        return ""
    return local_time.date_and_time(value, time_zone)


def day(value: datetime | None, time_zone: str = "UTC") -> str:
    """A date for tight columns: "24 Nov 2026"."""
    if value is None:
        return ""
    return local_time.date_only(value, time_zone)


def local(value: datetime, time_zone: str, reference: datetime) -> str:
    """A moment in the user's zone, as short as is clear from `reference` (now)."""
    return local_time.soon(value, time_zone, reference)


def local_date(value: datetime, time_zone: str) -> str:
    """A moment in the user's zone with its date: "24 Nov 2026, 10:30"."""
    return local_time.date_and_time(value, time_zone)


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


# How much of a long value a list shows; the whole of it is in the title and on its page.
CLIP_AT = 80


def clip(value: str | None, limit: int = CLIP_AT) -> str:
    """`value` cut short with an ellipsis when longer than `limit` characters."""
    text = value or ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


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
