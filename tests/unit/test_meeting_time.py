"""A meeting's time in an email carries its zone, and the contact's own when known."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from outreach.rules.meeting_time import city_of, known_zone, time_with_zones, when_with_zones


def test_the_issue_example_london_and_new_york() -> None:
    moment = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # London is on GMT in December
    assert (
        when_with_zones(moment, "Europe/London", "America/New_York")
        == "Tuesday 8 December at 15:00 London time, 10:00 in New York"
    )


def test_same_zone_is_given_once() -> None:
    moment = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert time_with_zones(moment, "Europe/London", "Europe/London") == "15:00 London time"


def test_unknown_contact_zone_gives_the_users_time_alone() -> None:
    moment = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert time_with_zones(moment, "Europe/Berlin", "") == "16:00 Berlin time"
    assert time_with_zones(moment, "Europe/Berlin", "Mars/Olympus_Mons") == "16:00 Berlin time"


def test_between_the_two_clock_changes_the_gap_is_four_hours_not_five() -> None:
    # America moves its clocks on 8 March 2026, Britain on 29 March: for three weeks
    # New York is four hours behind London.
    moment = datetime(2026, 3, 16, 15, 0, tzinfo=UTC)
    assert time_with_zones(moment, "Europe/London", "America/New_York") == (
        "15:00 London time, 11:00 in New York"
    )
    after = datetime(2026, 3, 30, 14, 0, tzinfo=UTC)  # both on summer time again
    assert time_with_zones(after, "Europe/London", "America/New_York") == (
        "15:00 London time, 10:00 in New York"
    )


def test_on_the_morning_clocks_go_forward_the_new_offset_is_used() -> None:
    # Sunday 29 March 2026: London jumps from 01:00 GMT to 02:00 BST.
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert when_with_zones(before, "Europe/London") == "Sunday 29 March at 00:30 London time"
    assert when_with_zones(after, "Europe/London") == "Sunday 29 March at 02:30 London time"


def test_the_contacts_day_is_named_when_it_is_not_the_users() -> None:
    moment = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)
    assert when_with_zones(moment, "Europe/London", "Asia/Tokyo") == (
        "Tuesday 8 December at 23:00 London time, 08:00 on Wednesday 9 December in Tokyo"
    )


def test_city_names_come_from_the_zone() -> None:
    assert city_of(zone("Europe/London")) == "London"
    assert city_of(zone("America/Argentina/Buenos_Aires")) == "Buenos Aires"
    assert city_of(zone("UTC")) is None


def test_zones_named_by_offset_read_as_utc() -> None:
    moment = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert time_with_zones(moment, "UTC", "America/New_York") == "15:00 UTC, 10:00 in New York"
    assert time_with_zones(moment, "Asia/Kolkata", "Etc/GMT+5") == (
        "20:30 Kolkata time, 10:00 UTC-5"
    )


def zone(name: str) -> ZoneInfo:
    found = known_zone(name)
    assert found is not None
    return found
