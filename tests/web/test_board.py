"""The status board: every outreach as a row the end-to-end test can read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from outreach import clock
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import Meeting, MessageStatus, Outreach, Target, User
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import Browser, start_target


def rows(page: str) -> list[tuple[int, str]]:
    return [
        (int(contact), state)
        for contact, state in re.findall(
            r'<tr data-contact-id="(\d+)" data-target-id="\d+" data-state="(\w+)">', page
        )
    ]


def test_a_new_account_sees_the_three_first_steps(signed_in: Browser) -> None:
    page = signed_in.page("/")

    assert 'id="status-board"' not in page
    assert 'id="first-steps"' in page
    for link in ('href="/mailbox"', 'href="/contacts"', 'href="/targets"'):
        assert link in page


def test_steps_already_taken_are_marked_done(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    make_contact(session, user)
    session.commit()

    page = signed_in.page("/")

    assert '<li class="done" data-step="mailbox">' in page
    assert '<li class="done" data-step="contacts">' in page
    assert '<li class="" data-step="target">' in page


def test_every_outreach_is_a_row_with_its_state(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able", organisation="Archive Office")
    ben = make_contact(session, user, name="Ben Baker")
    start_target(session, user, [ada, ben], name="Archives")
    session.commit()

    page = signed_in.page("/")

    assert sorted(rows(page)) == sorted([(ada.id, "drafted"), (ben.id, "planned")])
    assert '<table id="status-board"' in page
    assert "waiting for your approval" in page
    assert f'href="/contacts/{ada.id}"' in page
    assert "Archive Office" in page
    assert '<span class="badge state-drafted">drafted</span>' in page


def test_the_board_filters_by_target_and_state(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    ben = make_contact(session, user, name="Ben Baker")
    archives, _ = start_target(session, user, [ada], name="Archives")
    start_target(session, user, [ben], name="Botany")
    session.commit()

    assert rows(signed_in.page(f"/?target={archives.id}")) == [(ada.id, "drafted")]
    assert len(rows(signed_in.page("/?state=drafted"))) == 2
    assert rows(signed_in.page("/?state=replied")) == []
    assert "No one matches this filter." in signed_in.page("/?state=replied")
    # Nonsense in the query string shows everyone rather than failing.
    assert len(rows(signed_in.page("/?target=abc&state=nonsense"))) == 2


def test_every_page_shows_how_many_drafts_wait(
    signed_in: Browser, user: User, session: Session
) -> None:
    people = [make_contact(session, user, organisation=org) for org in ("Archive", "Museum")]
    start_target(session, user, people, max_in_flight=2)
    session.commit()

    for path in ("/", "/contacts", "/targets", "/mailbox", "/profile", "/drafts"):
        page = signed_in.page(path)
        count = re.search(r'<span id="pending-drafts-count"[^>]*>(\d+)</span>', page)
        assert count is not None and count.group(1) == "2", path


def detail_of(page: str, contact_id: int) -> str:
    found = re.search(
        rf'<tr data-contact-id="{contact_id}".*?<td class="detail">(.*?)</td>', page, re.S
    )
    assert found is not None
    return found.group(1).strip()


def test_an_approved_request_is_in_the_outbox_not_waiting_for_approval(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    ada = make_contact(session, user, name="Ada Able", organisation="Archive Office")
    ben = make_contact(session, user, name="Ben Baker", organisation="Botanic Garden")
    target, [approved, drafted] = start_target(session, user, [ada, ben], max_in_flight=2)
    approve(session, user, approved.id, NOW)
    session.commit()

    page = signed_in.page("/")

    assert sorted(rows(page)) == sorted([(ada.id, "drafted"), (ben.id, "drafted")])
    assert detail_of(page, ada.id) == (
        '<a href="/outbox">approved; in the outbox, waiting to be sent</a>'
    )
    assert detail_of(page, ben.id) == '<a href="/drafts">waiting for your approval</a>'
    assert "approved; in the outbox" in signed_in.page(f"/contacts/{ada.id}")
    assert "approved; in the outbox" in signed_in.page(f"/targets/{target.id}")

    # The worker lost track of it after handing it over: the user is asked.
    approved.status = MessageStatus.UNKNOWN
    session.commit()
    page = signed_in.page("/")
    assert "may have been sent; the outbox needs your decision" in detail_of(page, ada.id)

    # Edited after approval, it is a draft again.
    approved.status = MessageStatus.DRAFT
    session.commit()
    assert "waiting for your approval" in detail_of(signed_in.page("/"), ada.id)


# --- paging, filters, the funnel and the goal ---------------------------------------------------


def many(session: Session, user: User, count: int, name: str = "Big list") -> Target:
    """A target of `count` names, none asked yet (its first request drafted)."""
    contacts = [
        make_contact(session, user, name=f"Person {n:03d}", organisation=f"Org {n}")
        for n in range(count)
    ]
    target, _ = start_target(session, user, contacts, name=name)
    return target


def test_the_board_shows_fifty_names_a_page_with_page_links(
    signed_in: Browser, user: User, session: Session
) -> None:
    many(session, user, 120)
    session.commit()

    first = signed_in.page("/")
    assert len(rows(first)) == 50
    assert "Showing 1–50 of 120." in first
    assert 'href="/?page=2" rel="next"' in first
    assert re.search(r'href="/\?page=3" aria-label="Page 3"', first)
    assert re.search(r'<a href="/" aria-current="page" aria-label="Page 1, this page">1</a>', first)

    last = signed_in.page("/?page=3")
    assert len(rows(last)) == 20
    assert "Showing 101–120 of 120." in last
    assert 'href="/?page=2" rel="prev"' in last
    seen = {
        contact
        for page in ("/", "/?page=2", "/?page=3")
        for contact, _ in rows(signed_in.page(page))
    }
    assert len(seen) == 120

    # Past the end, or nonsense: the nearest real page.
    assert "Showing 101–120 of 120." in signed_in.page("/?page=99")
    assert "Showing 1–50 of 120." in signed_in.page("/?page=abc")


def test_page_links_keep_the_filter(signed_in: Browser, user: User, session: Session) -> None:
    big = many(session, user, 60, name="Big")
    many(session, user, 3, name="Small")
    session.commit()

    page = signed_in.page(f"/?target={big.id}&state=planned")

    assert "Showing 1–50 of 59." in page
    assert f'href="/?target={big.id}&amp;state=planned&amp;page=2"' in page
    assert len(rows(signed_in.page(f"/?target={big.id}&state=planned&page=2"))) == 9
    # The summary's badges filter by their state within the target.
    assert f'href="/?state=drafted&amp;target={big.id}"' in page


def test_another_users_target_in_the_filter_shows_none_of_theirs(
    signed_in: Browser, user: User, session: Session
) -> None:
    other = make_user(session)
    theirs = many(session, other, 2, name="Theirs")
    many(session, user, 2, name="Mine")
    session.commit()

    page = signed_in.page(f"/?target={theirs.id}")

    assert "Theirs" not in page
    assert len(rows(page)) == 2


def test_the_funnel_and_the_goal_are_on_the_board(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    ada = make_contact(session, user, name="Ada Able", organisation="Archive")
    ben = make_contact(session, user, name="Ben Baker", organisation="Botany")
    _, drafts = start_target(session, user, [ada, ben], max_in_flight=2)
    for draft in drafts:
        approve(session, user, draft.id, NOW)
        record_sent(session, draft.id, NOW)
    outreach = session.get_one(Outreach, drafts[0].outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW)
    advance(session, outreach, Trigger.MEETING_SET, NOW)
    session.add(
        Meeting(
            user_id=user.id,
            outreach_id=outreach.id,
            contact_id=ada.id,
            starts_at=clock.now() + timedelta(minutes=5),
        )
    )
    user.monthly_goal = 2
    session.commit()

    page = signed_in.page("/")

    funnel = page.split('id="funnel"')[1].split("</section>")[0]
    counts = re.findall(r'data-stage="(\w+)">.*?class="funnel-count">(\d+)<', funnel, re.S)
    assert counts == [
        ("sent", "2"),
        ("replied", "1"),
        ("meetings", "1"),
        ("met", "0"),
        ("thanked", "0"),
    ]
    assert "50% of requests sent" in funnel
    assert "100% of replies" in funnel
    goal = page.split('id="goal"')[1].split("</section>")[0]
    assert '<strong id="goal-count">1</strong> of <strong id="goal-target">2</strong>' in goal
    assert "1 more to reach your goal. Of this month&#39;s 1, 1 is still to come." in goal
    assert '<progress id="goal-progress" max="2" value="1"' in goal
    # The chart's figures are there as text for screen readers.
    table = goal.split('id="weekly-table"')[1].split("</table>")[0]
    weeks = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>', table)
    assert len(weeks) == 8
    # This week: the meeting to come.
    assert weeks[-1][2] == "1"


def test_dates_are_in_the_users_time_zone(signed_in: Browser, user: User, session: Session) -> None:
    ada = make_contact(session, user, name="Ada Able")
    target, _ = start_target(session, user, [ada])
    outreach = session.scalar(select(Outreach).where(Outreach.contact_id == ada.id))
    assert outreach is not None
    # 23:30 UTC on 24 November is already 25 November in Tokyo.
    outreach.state_changed_at = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    user.time_zone = "Asia/Tokyo"
    session.commit()

    page = signed_in.page("/")

    assert 'title="25 Nov 2026, 08:30 (Asia/Tokyo)">25 Nov 2026</time>' in page
    assert "Dates are in Asia/Tokyo." in page


def count_queries(
    app: Flask, browser: Browser, path: str, *, cold: bool = True, kept: bool = False
) -> int:
    """Statements run for one page; `cold`: with the board's figures read anew, not cached;
    `kept`: the page may be one kept from an earlier request (else it is rendered)."""
    statements: list[str] = []
    if not kept:
        app.extensions["outreach"].board_pages.clear()
    if cold:
        app.extensions["outreach"].board_figures.clear()

    def note(*args: Any) -> None:
        statements.append(args[2])

    engine = app.extensions["outreach"].engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        browser.page(path)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return len(statements)


def test_the_board_runs_the_same_number_of_queries_for_few_names_or_many(
    app: Flask, signed_in: Browser, user: User, session: Session
) -> None:
    many(session, user, 5, name="Small")
    session.commit()
    signed_in.page("/")  # warm up
    few = count_queries(app, signed_in, "/")

    many(session, user, 150, name="Large")
    session.commit()

    assert count_queries(app, signed_in, "/") == few
    assert count_queries(app, signed_in, "/?page=3") == few
    # Until the next event, the figures are kept: the next page reads only its rows.
    assert count_queries(app, signed_in, "/?page=2", cold=False) < few
    # And the page itself: asked again, it costs the signed-in user's row alone.
    assert count_queries(app, signed_in, "/?page=2", cold=False, kept=True) == 1
