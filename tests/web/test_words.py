"""How the dashboard puts a mailbox's pace and a moment in the user's zone into words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outreach.models import Mailbox
from web.helpers import local, pace_in_words

# A Tuesday, as in tests.conftest.NOW.
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def mailbox(**pace: object) -> Mailbox:
    values: dict[str, object] = {
        "daily_cap": 30,
        "window_days": "0123456",
        "window_start_hour": 0,
        "window_end_hour": 24,
        "min_gap_seconds": 60,
        "max_gap_seconds": 240,
    }
    values.update(pace)
    return Mailbox(**values)


@pytest.mark.parametrize(
    ("pace", "words"),
    [
        ({}, "up to 30 a day, every day at any hour, 1–4 minutes apart"),
        (
            {"window_days": "01234", "window_start_hour": 8, "window_end_hour": 18},
            "up to 30 a day, Mon–Fri 08:00–18:00, 1–4 minutes apart",
        ),
        ({"window_days": "024", "daily_cap": 5}, "up to 5 a day, Mon, Wed, Fri at any hour"),
        ({"window_days": "0156"}, "Mon, Tue, Sat, Sun at any hour"),
        ({"window_days": "012356"}, "Mon–Thu, Sat, Sun at any hour"),
        ({"min_gap_seconds": 60, "max_gap_seconds": 60}, "1 minute apart"),
        ({"min_gap_seconds": 90, "max_gap_seconds": 150}, "1.5–2.5 minutes apart"),
        ({"min_gap_seconds": 0, "max_gap_seconds": 0}, "with no gap between messages"),
        ({"window_start_hour": 9, "window_end_hour": 24}, "every day 09:00–24:00"),
    ],
)
def test_pace_in_words(pace: dict[str, object], words: str) -> None:
    assert words in pace_in_words(mailbox(**pace))


@pytest.mark.parametrize(
    ("moment", "zone", "words"),
    [
        (datetime(2026, 11, 25, 7, 0, tzinfo=UTC), "Europe/Berlin", "Wed 08:00"),
        (datetime(2026, 11, 25, 13, 0, tzinfo=UTC), "America/New_York", "Wed 08:00"),
        # Within the hour, in minutes; later today, "today at".
        (datetime(2026, 11, 24, 9, 30, tzinfo=UTC), "UTC", "in under a minute"),
        (datetime(2026, 11, 24, 9, 45, tzinfo=UTC), "UTC", "in 15 min"),
        (datetime(2026, 11, 24, 15, 30, tzinfo=UTC), "UTC", "today at 15:30"),
        # A week or more ahead, or in the past: the date too.
        (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "UTC", "Tue 1 Dec 09:30"),
        (datetime(2026, 11, 23, 9, 30, tzinfo=UTC), "UTC", "Mon 23 Nov 09:30"),
        # An unknown zone name falls back to UTC rather than failing the page.
        (datetime(2026, 11, 25, 7, 0, tzinfo=UTC), "Nowhere/Land", "Wed 07:00"),
    ],
)
def test_local_times(moment: datetime, zone: str, words: str) -> None:
    assert local(moment, zone, NOW) == words
