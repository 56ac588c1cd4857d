"""Every POST route of the url map refuses a request without the form's CSRF token, or with a
wrong one, and changes nothing.

Alice is signed in and posts to her own records, so the only thing wrong is the token.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Engine

from outreach.config import Settings
from tests.security.conftest import (
    PLAUSIBLE_FORM,
    Person,
    Route,
    assert_same,
    dashboard_routes,
    snapshot,
    url_of,
)
from tests.web.conftest import Browser, csrf_token_in
from web.errors import STALE_FORM

POST_ROUTES = [route for route in dashboard_routes() if route.method == "POST"]


def test_the_url_map_has_post_routes() -> None:
    assert len(POST_ROUTES) >= 40
    assert {"auth.login_submit", "auth.logout", "drafts.approve_one"} <= {
        route.endpoint for route in POST_ROUTES
    }


def _tokens(app: Flask) -> dict[str, str | None]:
    """No token, an invented one, and a real one from another (anonymous) session."""
    stranger = Browser(app.test_client())
    return {
        "none": None,
        "forged": "IjFhMmIzYzRkNWU2ZjdnOGg5aTAi.aBcDeF.forged-signature",
        "another session's": csrf_token_in(stranger.page("/login")),
    }


@pytest.mark.parametrize("route", POST_ROUTES, ids=lambda route: route.name)
def test_a_post_without_the_right_token_is_refused(
    app: Flask, engine: Engine, settings: Settings, alice: Person, route: Route
) -> None:
    path = url_of(app, route, alice)
    client = alice.browser.client
    for name, token in _tokens(app).items():
        before = snapshot(engine, settings.instance_dir)
        form = dict(PLAUSIBLE_FORM)
        if token is not None:
            form["csrf_token"] = token

        response = client.post(path, data=form)

        assert response.status_code == 400, f"{route.name} with {name} token"
        assert STALE_FORM.split(".")[0] in response.get_data(as_text=True)
        assert_same(before, snapshot(engine, settings.instance_dir), f"{route.name}, {name}")
    # Still signed in: a forged logout did not sign Alice out either.
    assert client.get("/").status_code == 200
