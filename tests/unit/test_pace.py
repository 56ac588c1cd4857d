from datetime import UTC, datetime, timedelta

from outreach.models import Mailbox
from outreach.pace import Window, expected_departures, judge
from outreach.rules.cycle import zone_of as zone

TUESDAY_0930 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def mailbox(**overrides: object) -> Mailbox:
    values: dict[str, object] = {
        "daily_cap": 30,
        "window_days": "01234",
        "window_start_hour": 9,
        "window_end_hour": 17,
        "min_gap_seconds": 60,
        "max_gap_seconds": 240,
        "next_send_at": None,
        "sent_day": None,
        "sent_day_count": 0,
        "sending_paused": False,
    }
    values.update(overrides)
    return Mailbox(**values)


def test_window_is_read_in_the_users_time_zone() -> None:
    window = Window.of(mailbox(), "America/New_York")
    assert not window.is_open(TUESDAY_0930)  # 04:30 in New York
    assert window.next_opening(TUESDAY_0930) == datetime(
        2026, 11, 24, 9, 0, tzinfo=zone("America/New_York")
    )


def test_friday_evening_opens_on_monday_morning() -> None:
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    opening = Window.of(mailbox(), "UTC").next_opening(friday_evening)
    assert opening is not None and opening.isoformat() == "2026-11-30T09:00:00+00:00"


def test_inside_the_window_with_room_a_message_may_go() -> None:
    assert judge(mailbox(), "UTC", TUESDAY_0930).allowed


def test_daily_cap_holds_until_the_next_opening() -> None:
    verdict = judge(
        mailbox(daily_cap=2, sent_day="2026-11-24", sent_day_count=2), "UTC", TUESDAY_0930
    )
    assert not verdict.allowed and "cap of 2" in verdict.reason
    assert (
        verdict.retry_at is not None and verdict.retry_at.isoformat() == "2026-11-25T09:00:00+00:00"
    )


def test_yesterdays_count_does_not_hold_today() -> None:
    assert judge(
        mailbox(daily_cap=2, sent_day="2026-11-23", sent_day_count=2), "UTC", TUESDAY_0930
    ).allowed


def test_spacing_waits_for_the_gap() -> None:
    soon = TUESDAY_0930 + timedelta(seconds=90)
    verdict = judge(mailbox(next_send_at=soon), "UTC", TUESDAY_0930)
    assert not verdict.allowed and verdict.retry_at == soon


def test_paused_sending_says_why() -> None:
    verdict = judge(mailbox(sending_paused=True), "UTC", TUESDAY_0930)
    assert not verdict.allowed and "password" in verdict.reason


def test_unknown_time_zone_falls_back_to_utc() -> None:
    assert zone("Not/AZone").key == "UTC"


# --- when each waiting message is expected to leave ------------------------------------------


def test_messages_waiting_together_leave_a_typical_gap_apart() -> None:
    """Three approved at once with a one-minute gap: now, in a minute, in two."""
    box = mailbox(min_gap_seconds=60, max_gap_seconds=60)
    assert expected_departures(box, "UTC", TUESDAY_0930, [None, None, None]) == [
        TUESDAY_0930,
        TUESDAY_0930 + timedelta(minutes=1),
        TUESDAY_0930 + timedelta(minutes=2),
    ]


def test_the_forecast_starts_after_the_gap_already_running() -> None:
    box = mailbox(next_send_at=TUESDAY_0930 + timedelta(seconds=100))
    [first] = expected_departures(box, "UTC", TUESDAY_0930, [None])
    assert first == TUESDAY_0930 + timedelta(seconds=100)


def test_the_daily_cap_carries_the_rest_to_the_next_days_opening() -> None:
    box = mailbox(daily_cap=2, sent_day="2026-11-24", sent_day_count=1)
    first, second, third = expected_departures(box, "UTC", TUESDAY_0930, [None, None, None])
    assert first == TUESDAY_0930
    assert second == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    # The typical gap is the middle of 1-4 minutes.
    assert third == second + timedelta(seconds=150)


def test_the_window_closing_moves_the_next_one_to_monday() -> None:
    friday_1659 = datetime(2026, 11, 27, 16, 59, tzinfo=UTC)
    first, second = expected_departures(
        mailbox(min_gap_seconds=120, max_gap_seconds=120), "UTC", friday_1659, [None, None]
    )
    assert first == friday_1659
    assert second == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_retry_waits_for_its_own_time_and_a_paused_mailbox_for_nobody() -> None:
    later = TUESDAY_0930 + timedelta(minutes=30)
    assert expected_departures(mailbox(), "UTC", TUESDAY_0930, [later]) == [later]
    assert expected_departures(mailbox(sending_paused=True), "UTC", TUESDAY_0930, [None]) == [None]
    assert expected_departures(mailbox(window_days=""), "UTC", TUESDAY_0930, [None]) == [None]
