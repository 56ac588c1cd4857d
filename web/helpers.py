"""Small helpers every view uses: the clock and turning core errors into sentences."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The one clock of the dashboard: an aware UTC datetime for the use cases."""
    return datetime.now(UTC)


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
