"""The home page's figures (funnel, monthly goal, last eight weeks) and the board's pages."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from outreach.accounts import primary_mailbox
from outreach.board import status_board
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import Meeting, MeetingStatus, Outreach, Target, User
from outreach.progress_stats import (
    funnel,
    goal_progress,
    names_per_target,
    state_counts,
    weekly_activity,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.targets import create_target, fill_pipeline, outreaches_in_order
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user

T = Trigger


def sent_target(
    session: Session,
    user: User,
    box: SecretBox,
    count: int,
    sent_at: datetime = NOW,
    name: str = "Science policy",
) -> tuple[Target, list[Outreach]]:
    """A target of `count` people at different organisations, every request sent at `sent_at`."""
    if primary_mailbox(session, user) is None:
        make_mailbox(session, user, box)
    people = [
        make_contact(session, user, organisation=f"{name} organisation {n}") for n in range(count)
    ]
    target = create_target(
        session, user, name, [person.id for person in people], max_in_flight=count
    )
    drafts = fill_pipeline(session, user, target, sent_at - timedelta(hours=1))
    assert len(drafts) == count
    for draft in drafts:
        approve(session, user, draft.id, sent_at - timedelta(minutes=30))
        record_sent(session, draft.id, sent_at)
    outreaches = [session.get_one(Outreach, draft.outreach_id) for draft in drafts]
    return target, outreaches


def walk(session: Session, outreach: Outreach, *triggers: Trigger) -> None:
    for trigger in triggers:
        advance(session, outreach, trigger, NOW)


def meeting(
    session: Session,
    outreach: Outreach,
    starts_at: datetime,
    status: MeetingStatus = MeetingStatus.SCHEDULED,
) -> Meeting:
    row = Meeting(
        user_id=outreach.user_id,
        outreach_id=outreach.id,
        contact_id=outreach.contact_id,
        starts_at=starts_at,
        status=status,
    )
    session.add(row)
    return row


def test_the_funnel_counts_each_stage_and_its_rate_of_the_one_before(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    _, [thanked, replied, declined, silent] = sent_target(session, user, secret_box, 4)
    walk(session, thanked, T.REPLY_RECEIVED, T.MEETING_SET, T.MEETING_HELD, T.THANK_YOU_SENT)
    walk(session, replied, T.REPLY_RECEIVED)
    walk(session, declined, T.DECLINE_RECEIVED)
    # Drafted but never sent: not in the funnel at all.
    waiting_list = make_contact(session, user, organisation="Elsewhere")
    later = create_target(session, user, "Later", [waiting_list.id])
    fill_pipeline(session, user, later, NOW)
    # Someone else's outreach is never counted.
    stranger = make_user(session)
    sent_target(session, stranger, secret_box, 2, name="Their target")
    session.flush()

    stages = funnel(session, user)

    assert [(s.key, s.count, s.rate) for s in stages] == [
        ("sent", 4, None),
        ("replied", 3, 75),
        ("meetings", 1, 33),
        ("met", 1, 100),
        ("thanked", 1, 100),
    ]
    assert silent.state is OutreachState.WAITING


def test_the_funnel_of_one_target_and_of_nothing_yet(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    policy, [answered] = sent_target(session, user, secret_box, 1)
    museums, _ = sent_target(session, user, secret_box, 2, name="Museums")
    walk(session, answered, T.REPLY_RECEIVED)
    session.flush()

    assert [s.count for s in funnel(session, user, target_id=policy.id)] == [1, 1, 0, 0, 0]
    assert [s.count for s in funnel(session, user, target_id=museums.id)] == [2, 0, 0, 0, 0]
    # Nothing sent: every count is 0 and no rate is made up from a division by zero.
    newcomer = make_user(session)
    session.flush()
    assert [(s.count, s.rate) for s in funnel(session, newcomer)] == [(0, None)] * 5


def test_a_cancelled_meeting_counts_as_a_reply_not_a_meeting(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    _, [outreach] = sent_target(session, user, secret_box, 1)
    walk(session, outreach, T.REPLY_RECEIVED, T.MEETING_SET, T.MEETING_CANCELLED)
    session.flush()

    assert [s.count for s in funnel(session, user)] == [1, 1, 0, 0, 0]


def test_state_counts_group_the_users_outreaches_by_state(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    policy, [first, _second] = sent_target(session, user, secret_box, 2)
    walk(session, first, T.BOUNCE_RECEIVED)
    other = make_user(session)
    sent_target(session, other, secret_box, 3, name="Not mine")
    session.flush()

    assert state_counts(session, user) == {OutreachState.BOUNCED: 1, OutreachState.WAITING: 1}
    assert state_counts(session, user, target_id=policy.id + 999) == {}
    assert names_per_target(session, user) == {policy.id: 2}


def test_the_goal_counts_this_months_meetings_in_the_users_time_zone(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    user.time_zone = "Asia/Tokyo"  # UTC+9, no daylight saving
    user.monthly_goal = 3
    _, outreaches = sent_target(session, user, secret_box, 6)
    held, booked, cancelled, last_month, first_hour, next_month = outreaches
    meeting(session, held, datetime(2026, 11, 10, 6, 0, tzinfo=NOW.tzinfo), MeetingStatus.HELD)
    meeting(session, booked, NOW + timedelta(days=2))
    meeting(session, cancelled, NOW + timedelta(days=1), MeetingStatus.CANCELLED)
    meeting(session, last_month, datetime(2026, 10, 31, 14, 0, tzinfo=NOW.tzinfo))
    # 1 November, 01:00 in Tokyo, still 31 October in UTC: this month for the user.
    meeting(session, first_hour, datetime(2026, 10, 31, 16, 0, tzinfo=NOW.tzinfo))
    # 1 December, 01:00 in Tokyo: next month.
    meeting(session, next_month, datetime(2026, 11, 30, 16, 0, tzinfo=NOW.tzinfo))
    session.flush()

    progress = goal_progress(session, user, NOW)

    assert (progress.month, progress.goal) == ("November 2026", 3)
    # The one still marked scheduled but already past counts as held.
    assert (progress.held, progress.booked, progress.total) == (2, 1, 3)
    assert progress.reached and progress.percent == 100


def test_a_goal_not_yet_reached(session: Session) -> None:
    user = make_user(session)
    user.monthly_goal = 4
    session.flush()

    progress = goal_progress(session, user, NOW)

    assert (progress.total, progress.reached, progress.percent) == (0, False, 0)


def test_the_last_eight_weeks_count_requests_sent_and_meetings_per_week(
    session: Session, secret_box: SecretBox
) -> None:
    user = make_user(session)
    user.time_zone = "America/New_York"  # UTC-5 in November
    # NOW is Tuesday 24 November: this week began on Monday 23 November.
    _, this_week = sent_target(session, user, secret_box, 2, sent_at=NOW - timedelta(hours=2))
    # Monday 23 November, 03:00 UTC is still Sunday 22 November in New York: last week.
    sunday = datetime(2026, 11, 23, 3, 0, tzinfo=NOW.tzinfo)
    sent_target(session, user, secret_box, 1, sent_at=sunday, name="Sunday")
    oldest = datetime(2026, 10, 5, 15, 0, tzinfo=NOW.tzinfo)
    sent_target(session, user, secret_box, 3, sent_at=oldest, name="Oldest")
    too_old = datetime(2026, 10, 4, 15, 0, tzinfo=NOW.tzinfo)
    sent_target(session, user, secret_box, 1, sent_at=too_old, name="Too old")
    meeting(session, this_week[0], NOW + timedelta(days=2))
    meeting(session, this_week[1], NOW - timedelta(days=8), MeetingStatus.HELD)
    session.flush()

    weeks = weekly_activity(session, user, NOW)

    assert [week.monday for week in weeks] == [
        date(2026, 10, 5) + timedelta(weeks=n) for n in range(8)
    ]
    assert weeks[-1].label == "23 Nov"
    assert [week.requests for week in weeks] == [3, 0, 0, 0, 0, 0, 1, 2]
    assert [week.meetings for week in weeks] == [0, 0, 0, 0, 0, 0, 1, 1]


def test_the_board_reads_one_page_at_a_time_newest_change_first(session: Session) -> None:
    user = make_user(session)
    contacts = [
        make_contact(session, user, name=f"Person {n}", organisation=f"Org {n}") for n in range(7)
    ]
    target = create_target(session, user, "Paged", [contact.id for contact in contacts])
    for minutes, outreach in enumerate(outreaches_in_order(session, target)):
        outreach.state_changed_at = NOW - timedelta(minutes=minutes)
    session.flush()

    pages = [
        [row.contact_name for row in status_board(session, user, NOW, limit=3, offset=offset)]
        for offset in (0, 3, 6)
    ]

    assert pages == [
        ["Person 0", "Person 1", "Person 2"],
        ["Person 3", "Person 4", "Person 5"],
        ["Person 6"],
    ]
    one = status_board(session, user, NOW, contact_id=contacts[4].id)
    assert [row.contact_name for row in one] == ["Person 4"]
    assert status_board(session, user, NOW, state=OutreachState.REPLIED, limit=3) == []
