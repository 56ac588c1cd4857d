"""Every moment the dashboard shows is on the user's own clock (outreach.rules.local_time)."""

from datetime import UTC, datetime, timedelta

from outreach.rules import local_time

# Thursday 3 December 2026, 16:00 UTC, which is 11:00 in New York and 03:00 on Friday in Sydney.
NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


def test_one_moment_in_three_zones() -> None:
    assert local_time.date_and_time(NOW, "UTC") == "3 Dec 2026, 16:00"
    assert local_time.date_and_time(NOW, "America/New_York") == "3 Dec 2026, 11:00"
    assert local_time.weekday_date_and_time(NOW, "Australia/Sydney") == "Fri 4 Dec 2026, 03:00"
    assert local_time.date_only(NOW, "Australia/Sydney") == "4 Dec 2026"
    assert local_time.clock_time(NOW, "Europe/Paris") == "17:00"


def test_an_unknown_or_empty_zone_is_utc() -> None:
    assert local_time.date_and_time(NOW, "") == "3 Dec 2026, 16:00"
    assert local_time.date_and_time(NOW, "Mars/Olympus") == "3 Dec 2026, 16:00"


def test_soon_is_as_short_as_is_clear() -> None:
    zone = "America/New_York"
    assert local_time.soon(NOW + timedelta(seconds=10), zone, NOW) == "in under a minute"
    assert local_time.soon(NOW + timedelta(minutes=2), zone, NOW) == "in 2 min"
    assert local_time.soon(NOW + timedelta(hours=3), zone, NOW) == "today at 14:00"
    assert local_time.soon(NOW + timedelta(days=1), zone, NOW) == "Fri 11:00"
    assert local_time.soon(NOW + timedelta(days=9), zone, NOW) == "Sat 12 Dec 11:00"
    assert local_time.soon(NOW - timedelta(days=1), zone, NOW) == "Wed 2 Dec 11:00"
