"""The one clock the cycle reads, so scenario tests and demos can move time forward.

Every step of the cycle takes `now` as an argument; the processes (web, worker,
poller, CLI) get it from `now()` here. In production this is the system clock.
When OUTREACH_CLOCK_OFFSET_FILE names a file, its content (seconds, may be
fractional or negative) is added: the scenario tests write "432000" into it and
every running process is five days later at once, without restarting anything.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

OFFSET_FILE_ENV = "OUTREACH_CLOCK_OFFSET_FILE"


def offset() -> timedelta:
    """The configured shift; zero when none is set or the file is missing or blank."""
    path = os.environ.get(OFFSET_FILE_ENV)
    if not path:
        return timedelta(0)
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return timedelta(0)
    if not text:
        return timedelta(0)
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        raise ValueError(f"{OFFSET_FILE_ENV} ({path}) must hold a number of seconds") from None


def now() -> datetime:
    """The current moment, aware and in UTC, shifted by the offset when one is set."""
    return datetime.now(UTC) + offset()


def travel(path: str | os.PathLike[str], by: timedelta) -> None:
    """Move the shared clock forward by `by` (for tests and demos)."""
    current = 0.0
    try:
        with open(path, encoding="ascii") as handle:
            current = float(handle.read().strip() or 0)
    except FileNotFoundError:
        pass
    temporary = f"{os.fspath(path)}.tmp"
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(repr(current + by.total_seconds()))
    os.replace(temporary, path)
