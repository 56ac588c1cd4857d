"""The user's usual free times: read from the profile, and the next ones offered to a contact."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from outreach.errors import ValidationError
from outreach.rules.free_times import (
    FreeWindow,
    check_free_times,
    next_free_slots,
    parse_free_times,
    slot_sentence,
)

# Thursday 3 December 2026, 16:00 UTC.
NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


def test_days_ranges_and_notes_are_read() -> None:
    windows = parse_free_times(
        "Mon-Wed 12:30-13:30  # lunch\n\nfriday 9:00-10:00\nSat-Mon 10:00-11:00"
    )

    assert windows == [
        FreeWindow(0, time(12, 30), time(13, 30)),
        FreeWindow(1, time(12, 30), time(13, 30)),
        FreeWindow(2, time(12, 30), time(13, 30)),
        FreeWindow(4, time(9), time(10)),
        # A range over the weekend wraps round to Monday.
        FreeWindow(5, time(10), time(11)),
        FreeWindow(6, time(10), time(11)),
        FreeWindow(0, time(10), time(11)),
    ]
    assert check_free_times(" Tue 16:00-18:00 \r\n\r\n") == "Tue 16:00-18:00"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lunchtime", "'lunchtime' is not read as free time"),
        ("Mon 25:00-26:00", "'25:00' is not a time of day"),
        ("Mon 14:00-13:00", "the end comes before the start"),
        ("Xyz 10:00-11:00", "'Xyz' is not a day"),
        ("Mon 10:00-11:00\n" * 31, "at most 30 lines"),
    ],
)
def test_a_line_that_cannot_be_read_is_named(text: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        parse_free_times(text)


def test_the_next_starts_come_from_tomorrow_on_the_users_wall_clock() -> None:
    windows = parse_free_times("Mon-Fri 12:30-13:30\nTue 16:00-16:15")

    slots = next_free_slots(windows, "Europe/Berlin", NOW, count=3)

    # Berlin is UTC+1 in December; today (Thursday) is too short notice; the
    # quarter-hour window on Tuesday is shorter than a 30-minute conversation.
    assert slots == [
        datetime(2026, 12, 4, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 7, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 8, 11, 30, tzinfo=UTC),
    ]


def test_meetings_days_off_and_the_contacts_night_are_left_out() -> None:
    windows = parse_free_times("Mon-Sun 09:00-10:00\nMon-Sun 15:00-16:00")
    busy = [(datetime(2026, 12, 4, 9, 15, tzinfo=UTC), datetime(2026, 12, 4, 9, 45, tzinfo=UTC))]

    slots = next_free_slots(
        windows,
        "Europe/London",
        NOW,
        busy=busy,
        days_off={date(2026, 12, 5)},
        their_zone="America/New_York",
        count=3,
    )

    # 09:00 in London is 04:00 in New York: only the afternoons are offered.
    assert slots == [
        datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 7, 15, 0, tzinfo=UTC),
    ]
    assert next_free_slots(windows, "Europe/London", NOW, count=1, busy=busy) == [
        datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    ]


def test_clocks_going_forward_keep_the_wall_clock_time() -> None:
    windows = parse_free_times("Sun 10:00-11:00")
    before = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)

    (slot,) = next_free_slots(windows, "Europe/London", before, count=1)

    # 28 March 2027: British Summer Time has begun, so 10:00 in London is 09:00 UTC.
    assert slot == datetime(2027, 3, 28, 9, 0, tzinfo=UTC)


def test_no_free_times_offer_nothing() -> None:
    assert next_free_slots([], "UTC", NOW) == []
    assert next_free_slots(parse_free_times("Mon 10:00-11:00"), "UTC", NOW, count=50) == [
        NOW.replace(hour=10) + timedelta(days=4 + 7 * week) for week in range(3)
    ]


def test_the_sentence_gives_both_clocks_when_they_differ() -> None:
    moment = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)

    assert slot_sentence(moment, "Europe/London") == (
        "Would Tuesday 8 December at 14:00 (Europe/London) suit you for a 30-minute conversation?"
    )
    assert slot_sentence(moment, "Europe/London", "Asia/Tokyo") == (
        "Would Tuesday 8 December at 14:00 (Europe/London) suit you "
        "for a 30-minute conversation, that is 23:00 on Tuesday your time (Asia/Tokyo)?"
    )
    assert slot_sentence(moment, "Europe/London", "Europe/London").endswith("conversation?")
