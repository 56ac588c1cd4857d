from datetime import UTC, date, datetime, timedelta

import pytest

from outreach.errors import ValidationError
from outreach.reading.mime import parse_headers, text_of
from outreach.rules import cycle
from outreach.rules.cycle import (
    AWAY_WITHOUT_DATE_BUSINESS_DAYS,
    BusinessCalendar,
    Candidate,
    Due,
    Rules,
    Step,
    add_business_days,
    business_days_between,
    clock_after_auto_reply,
    clock_after_sending,
    due_step,
    next_step_after,
    parse_holidays,
    pick_next,
)
from outreach.rules.states import OutreachState as S

FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
CHRISTMAS = frozenset({date(2026, 12, 24), date(2026, 12, 25)})


def test_business_days_skip_the_weekend() -> None:
    assert add_business_days(FRIDAY, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert add_business_days(FRIDAY, 7).date().isoformat() == "2026-12-08"


def test_business_days_between() -> None:
    assert business_days_between(FRIDAY, add_business_days(FRIDAY, 3)) == 3
    assert business_days_between(FRIDAY, FRIDAY) == 0


def test_holidays_are_not_business_days() -> None:
    tuesday_before = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    # Wed 23, (Thu 24, Fri 25 off), (weekend), Mon 28.
    assert add_business_days(tuesday_before, 2, holidays=CHRISTMAS).date() == date(2026, 12, 28)
    assert business_days_between(tuesday_before, datetime(2026, 12, 28, tzinfo=UTC)) == 4
    assert (
        business_days_between(
            tuesday_before, datetime(2026, 12, 28, tzinfo=UTC), holidays=CHRISTMAS
        )
        == 2
    )


def test_days_are_counted_in_the_users_time_zone() -> None:
    # Friday 23:30 UTC is already Saturday in Auckland: one business day later is
    # Monday there, and the moment keeps its local time of day.
    late_friday = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    auckland = add_business_days(late_friday, 1, time_zone="Pacific/Auckland")
    assert auckland == datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Mon 12:30 NZDT
    assert add_business_days(late_friday, 1) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_local_time_of_day_survives_a_clock_change() -> None:
    # Berlin leaves summer time on Sunday 25 October 2026: 09:00 stays 09:00 there.
    thursday = datetime(2026, 10, 22, 7, 0, tzinfo=UTC)  # 09:00 CEST
    later = add_business_days(thursday, 3, time_zone="Europe/Berlin")
    assert later == datetime(2026, 10, 27, 8, 0, tzinfo=UTC)  # Tue 09:00 CET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set()),
        ("2026-12-25", {date(2026, 12, 25)}),
        ("2026-12-24\n2026-12-25\n", {date(2026, 12, 24), date(2026, 12, 25)}),
        (
            "2026-12-24, 2026-12-31 2027-01-01",
            {date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 1)},
        ),
        ("2026-12-25  # Christmas\n\n# comments only\n", {date(2026, 12, 25)}),
    ],
)
def test_parse_holidays(text: str, expected: set[date]) -> None:
    assert parse_holidays(text) == expected


def test_a_bad_holiday_names_its_line() -> None:
    with pytest.raises(ValidationError, match="line 2 .*'25/12/2026'.*year-month-day"):
        parse_holidays("2026-12-24\n25/12/2026\n")
    with pytest.raises(ValidationError, match="line 1"):
        parse_holidays("2026-02-30")


def test_a_calendar_from_stored_settings_skips_what_is_not_a_date() -> None:
    calendar = BusinessCalendar.of("Nowhere/Unknown", "2026-12-25\nnonsense")
    assert calendar.holidays == {date(2026, 12, 25)}
    assert calendar.zone.key == "UTC"


RULES = Rules(wait_business_days=5, give_up_business_days=3)


def due(state: S, at: datetime | None = FRIDAY, **overrides: object) -> Due:
    values: dict[str, object] = {
        "state": state,
        "next_step_at": at,
        "handled_by_user": False,
        "messages": 1,
    }
    values.update(overrides)
    return Due(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "rules", "expected"),
    [
        (due(S.WAITING), RULES, Step.DRAFT_FOLLOW_UP),
        (due(S.WAITING), Rules(send_follow_up=False), Step.GIVE_UP),
        (due(S.WAITING, follow_up_exists=True, messages=2), RULES, Step.GIVE_UP),
        (
            due(S.WAITING, follow_up_exists=True, follow_up_in_outbox=True, messages=2),
            RULES,
            Step.POSTPONE,
        ),
        # Two messages already (a follow-up written and cancelled still counts once sent).
        (due(S.WAITING, messages=2), RULES, Step.GIVE_UP),
        (due(S.FOLLOWED_UP, messages=2), RULES, Step.GIVE_UP),
        (due(S.WAITING, handled_by_user=True), RULES, Step.NOTHING),
        (due(S.WAITING), Rules(paused=True), Step.NOTHING),
        (due(S.WAITING, at=None), RULES, Step.NOTHING),
        (due(S.WAITING, at=FRIDAY + timedelta(seconds=1)), RULES, Step.NOTHING),
        *[
            (due(state), RULES, Step.NOTHING)
            for state in S
            if state not in {S.WAITING, S.FOLLOWED_UP}
        ],
    ],
)
def test_due_step(case: Due, rules: Rules, expected: Step) -> None:
    assert due_step(case, rules, FRIDAY) is expected


def test_the_clock_after_each_step() -> None:
    assert next_step_after(Step.DRAFT_FOLLOW_UP, RULES, FRIDAY, cycle.UTC_CALENDAR) == (
        datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    )
    assert next_step_after(Step.POSTPONE, RULES, FRIDAY, cycle.UTC_CALENDAR) == MONDAY
    assert next_step_after(Step.GIVE_UP, RULES, FRIDAY, cycle.UTC_CALENDAR) is None
    assert clock_after_sending(S.WAITING, RULES, FRIDAY, cycle.UTC_CALENDAR) == (
        datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    )
    assert clock_after_sending(S.FOLLOWED_UP, RULES, FRIDAY, cycle.UTC_CALENDAR) == (
        datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    )


def test_an_auto_reply_with_a_date_waits_one_business_day_after_it() -> None:
    running = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # Back on Friday 11 December: the clock resumes Monday 14th, same time of day.
    pushed = clock_after_auto_reply(running, date(2026, 12, 11), FRIDAY, cycle.UTC_CALENDAR)
    assert pushed == datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
    # A return date before the clock's own: never earlier than it was.
    assert clock_after_auto_reply(running, date(2026, 11, 27), FRIDAY, cycle.UTC_CALENDAR) == (
        running
    )
    # No clock running (the user handles it): none is started.
    assert clock_after_auto_reply(None, date(2026, 12, 11), FRIDAY, cycle.UTC_CALENDAR) is None


def test_an_auto_reply_without_a_date_waits_a_set_time() -> None:
    running = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    pushed = clock_after_auto_reply(running, None, FRIDAY, cycle.UTC_CALENDAR)
    assert pushed == add_business_days(FRIDAY, AWAY_WITHOUT_DATE_BUSINESS_DAYS)


def person(key: int, organisation: str = "", state: S = S.PLANNED, **extra: object) -> Candidate:
    values: dict[str, object] = {"do_not_contact": False}
    values.update(extra)
    return Candidate(key, state, organisation, **values)  # type: ignore[arg-type]


def test_pick_next_fills_free_places_in_list_order() -> None:
    names = [person(1, "A"), person(2, "B"), person(3, "C")]
    assert pick_next(names, Rules(max_in_flight=2)) == [1, 2]
    assert pick_next([person(1, "A", S.WAITING), *names[1:]], Rules(max_in_flight=2)) == [2]
    assert pick_next(names, Rules(max_in_flight=2, paused=True)) == []


def test_pick_next_skips_do_not_contact_and_people_with_two_messages() -> None:
    names = [
        person(1, do_not_contact=True),
        person(2, messages=2),
        person(3, busy_elsewhere=True),
        person(4),
    ]
    assert pick_next(names, Rules()) == [4]


def test_one_person_per_organisation_at_once_unless_allowed() -> None:
    names = [person(1, "Acme"), person(2, " ACME "), person(3, "Blue"), person(4, "")]
    assert pick_next(names, Rules(max_in_flight=3)) == [1, 3, 4]
    assert pick_next(names, Rules(max_in_flight=3, allow_same_organisation=True)) == [1, 2, 3]
    in_flight = [person(1, "Acme", S.FOLLOWED_UP), *names[1:]]
    # Acme's second name waits its turn; the places go to the next names.
    assert pick_next(in_flight, Rules(max_in_flight=3)) == [3, 4]


def test_headers_are_decoded_and_unfolded() -> None:
    raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n and more\r\nFrom: a@b.example\r\n\r\n"
    assert parse_headers(raw) == {"subject": "Grüße and more", "from": "a@b.example"}


def test_text_of_prefers_plain_text() -> None:
    raw = (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n--b--\r\n"
    )
    assert text_of(raw) == "plain words"


def test_text_of_strips_tags_and_scripts_from_html_only_mail() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<p>Hi <b>Sam</b></p><script>alert(1)</script>"
    assert text_of(raw) == "Hi Sam"


def test_unknown_charset_and_broken_mime_do_not_raise() -> None:
    raw = b"Content-Type: text/plain; charset=x-made-up\r\n\r\nhello \xff"
    assert text_of(raw).startswith("hello")
    # A multipart that cannot be split is shown as the text it is, not dropped.
    assert text_of(b'Content-Type: multipart/mixed; boundary="never"\r\n\r\nno parts') == (
        "no parts"
    )


def test_a_multipart_without_a_boundary_keeps_its_text() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\nYes, gladly."
    assert text_of(raw).endswith("Yes, gladly.")


def test_base64_one_character_too_long_is_still_decoded() -> None:
    # 13 characters of the alphabet once the stray ones are dropped: the email package
    # gives up and returns the raw base64.
    raw = b"Content-Transfer-Encoding: base64\r\n\r\nWWVzLCBnbGFk!!*\r\nb@=="
    assert text_of(raw) == "Yes, glad"
