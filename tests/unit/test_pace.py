from datetime import UTC, datetime, timedelta

from outreach.models import Mailbox
from outreach.pace import Window, judge
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
