"""The board's figures are kept per user until their next event, and never shown to another."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy.orm import Session

from outreach import clock
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import User
from outreach.progress_stats import FiguresCache
from outreach.rules.states import Trigger
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import PASSWORD, Browser, start_target
from tests.web.test_board_live import attention_items, waiting_request


def funnel_count(page: str, stage: str) -> int:
    found = re.search(
        rf'<li data-stage="{stage}">.*?<strong class="funnel-count">(\d+)</strong>', page, re.S
    )
    assert found is not None, f"no funnel stage {stage}"
    return int(found.group(1))


def figures_part(page: str) -> str:
    """The attention panel, the funnel, the goal and the chart, as the page shows them."""
    found = re.search(r'<section id="attention".*?<form id="board-filter"', page, re.S)
    assert found is not None, "no figures on the board"
    return found.group(0)


def cache_of(app: Flask) -> FiguresCache:
    cache = app.extensions["outreach"].board_figures
    assert isinstance(cache, FiguresCache)
    return cache


def test_the_figures_are_kept_until_a_reply_changes_them(
    app: Flask, signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    first = signed_in.page("/")
    assert funnel_count(first, "sent") == 1
    assert funnel_count(first, "replied") == 0
    assert attention_items(first) == ["all-done"]

    # Nothing happened: the second board is the page kept from the first.
    hits = app.extensions["outreach"].board_pages.hits
    again = signed_in.page("/")
    assert app.extensions["outreach"].board_pages.hits == hits + 1
    assert figures_part(again) == figures_part(first)
    # Another page of the same board is rendered, with the figures kept.
    hits = cache_of(app).hits
    signed_in.page("/?page=2")
    assert cache_of(app).hits == hits + 1

    # The poller stores a reply (through its own connection, as another process would).
    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW, "reply received")
    session.commit()
    page = signed_in.page("/")

    assert funnel_count(page, "replied") == 1
    assert attention_items(page) == ["reply"]
    assert f'data-item="reply"><a href="/contacts/{outreach.contact_id}">Ada Able replied' in page


def test_an_approval_takes_the_draft_off_the_cached_panel(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    _, (draft,) = start_target(session, user, [make_contact(session, user, name="Ben Baker")])
    session.commit()
    before = signed_in.page("/")
    assert attention_items(before) == ["drafts"]
    assert attention_items(signed_in.page("/")) == ["drafts"]

    approve(session, user, draft.id, clock.now())
    session.commit()

    assert attention_items(signed_in.page("/")) == ["all-done"]


def test_no_user_ever_sees_another_users_figures(
    app: Flask, signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    mine = waiting_request(session, user, secret_box, "Ada Able")
    advance(session, mine, Trigger.REPLY_RECEIVED, NOW, "reply received")
    stranger = make_user(session, password=PASSWORD)
    for name in ("Zed Stranger", "Yan Stranger"):
        waiting_request(session, stranger, secret_box, name)
    session.commit()
    theirs = Browser(app.test_client())
    assert theirs.login(stranger.email).status_code == 302

    for _ in range(2):  # read, then from the cache
        page = signed_in.page("/")
        assert (funnel_count(page, "sent"), funnel_count(page, "replied")) == (1, 1)
        assert "Stranger" not in page
        their_page = theirs.page("/")
        assert (funnel_count(their_page, "sent"), funnel_count(their_page, "replied")) == (2, 0)
        assert "Ada Able" not in their_page


def test_the_cache_keys_each_user_apart_even_with_the_same_version(
    user: User, session: Session, secret_box: SecretBox
) -> None:
    waiting_request(session, user, secret_box, "Ada Able")
    stranger = make_user(session, password=PASSWORD)
    session.commit()
    cache = FiguresCache()
    moment = clock.now()

    mine = cache.figures(session, user, moment, "same-version")
    theirs = cache.figures(session, stranger, moment, "same-version")

    assert mine.funnel[0].count == 1
    assert theirs.funnel[0].count == 0
    assert cache.misses == 2


def test_the_least_recently_used_figures_go_first(user: User, session: Session) -> None:
    cache = FiguresCache(size=2)
    moment = clock.now()
    for version in ("a", "b", "a", "c"):
        cache.figures(session, user, moment, version)
    cache.figures(session, user, moment, "a")  # kept: used after "b"
    cache.figures(session, user, moment, "b")  # gone: read again

    assert (cache.hits, cache.misses) == (2, 4)
