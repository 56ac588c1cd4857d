"""Every route with an id in its URL, requested by Bob with Alice's ids: not found, nothing shown,
nothing changed.

The routes come from the app's URL map, so a new route is covered without a line here;
one whose id the fixtures cannot fill fails with a message saying where to add it.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Engine

from outreach.config import Settings
from outreach.models import Base
from tests.security.conftest import (
    PLAUSIBLE_FORM,
    Person,
    Route,
    assert_same,
    browser_for,
    dashboard_routes,
    has_id,
    snapshot,
    url_of,
)
from tests.web.conftest import csrf_token_in

ROUTES_WITH_IDS = [route for route in dashboard_routes() if has_id(route)]


def request_as(person: Person, route: Route, path: str) -> tuple[int, str]:
    """`person` asks for `path` the way their browser would (a POST with their own token)."""
    browser = browser_for(person, route)
    client = browser.client
    if route.method == "GET":
        response = client.get(path)
    else:
        token = csrf_token_in(browser.page("/"))
        response = client.post(path, data={**PLAUSIBLE_FORM, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def test_the_url_map_has_routes_with_ids() -> None:
    # The test below must not pass by finding nothing to test.
    endpoints = {route.endpoint for route in ROUTES_WITH_IDS}
    assert {
        "contacts.detail",
        "drafts.approve_one",
        "mailboxes.test",
        "meetings.notes",
    } <= endpoints
    assert len(ROUTES_WITH_IDS) >= 30


@pytest.mark.parametrize("route", ROUTES_WITH_IDS, ids=lambda route: route.name)
def test_bob_cannot_reach_alices_records(
    app: Flask,
    engine: Engine,
    settings: Settings,
    alice: Person,
    bob: Person,
    route: Route,
) -> None:
    path = url_of(app, route, alice)
    before = snapshot(engine, settings.instance_dir)
    # The token is read first: the page it comes from is not part of what is compared.
    token_page = bob.browser.page("/") if route.method == "POST" else ""

    client = bob.browser.client
    if route.method == "GET":
        response = client.get(path)
    else:
        response = client.post(
            path, data={**PLAUSIBLE_FORM, "csrf_token": csrf_token_in(token_page)}
        )

    assert response.status_code in (403, 404), (
        f"{route.name} answered Bob {response.status_code} for Alice's {path}"
    )
    page = response.get_data(as_text=True)
    shown = [word for word in alice.private_words if word in page]
    assert not shown, f"{route.name} showed Bob Alice's {shown}"
    assert_same(before, snapshot(engine, settings.instance_dir), f"Bob's {route.name} {path}")

    # The same ids work for their owner, so the refusal above was about the owner.
    status, _ = request_as(alice, route, path)
    assert status != 404, f"{route.name} {path} is not found even for its owner, Alice"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/drafts/approve", "message_ids"),
        ("/targets", "contact_ids"),
        ("/contacts", "referred_by"),
        ("/meetings", "outreach_id"),
        ("/templates/request", "contact_id"),
    ],
)
def test_alices_ids_in_bobs_forms_change_nothing_of_hers(
    engine: Engine,
    settings: Settings,
    alice: Person,
    bob: Person,
    path: str,
    field: str,
) -> None:
    """Ids travel in form fields too: a field naming Alice's record is refused or ignored."""
    record = {
        "message_ids": alice.draft_id,
        "contact_ids": alice.contact_id,
        "referred_by": alice.contact_id,
        "outreach_id": alice.sent_id,
        "contact_id": alice.contact_id,
    }[field]
    before = snapshot(engine, settings.instance_dir)
    token = csrf_token_in(bob.browser.page("/"))
    form = {**PLAUSIBLE_FORM, "name": "Bob's new one", field: str(record), "csrf_token": token}

    response = bob.browser.client.post(path, data=form)

    page = response.get_data(as_text=True)
    assert response.status_code != 500
    shown = [word for word in alice.private_words if word in page]
    assert not shown, f"{path} showed Bob Alice's {shown}"
    after = snapshot(engine, settings.instance_dir)
    # Bob may have made something of his own; nothing of Alice's may differ.
    alice_id = alice.user.id
    for table, rows in before.rows.items():
        hers_before = [row for row in rows if _owned_by(table, row, alice_id)]
        hers_after = [row for row in after.rows[table] if _owned_by(table, row, alice_id)]
        assert hers_after == hers_before, f"{path} with {field} changed Alice's {table}"


def _owned_by(table: str, row: tuple[object, ...], user_id: int) -> bool:
    columns = [column.name for column in Base.metadata.tables[table].columns]
    if "user_id" in columns:
        return row[columns.index("user_id")] == user_id
    if table == "users":
        return row[columns.index("id")] == user_id
    # Tables without an owner column (entries, sync states) hang off owned rows: compare all.
    return True
