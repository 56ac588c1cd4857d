"""Every route but a short, explicit list of public ones sends an anonymous visitor to log in.

The dashboard's rule is the other way round (web/auth.py: everything needs a login unless
its endpoint is listed), so this list is the check on that one: a new public page must be
added here on purpose, with its reason.
"""

from __future__ import annotations

from urllib.parse import urlsplit

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
from tests.web.conftest import Browser

PUBLIC = {
    "auth.login": "the login page itself",
    "auth.login_submit": "logging in",
    "auth.signup": "the sign-up page",
    "auth.signup_submit": "signing up",
    "healthz": "docker's health check; it says 'ok' and reads nothing",
    "static": "style sheets and scripts, the same for everyone",
}

ROUTES = dashboard_routes()
PRIVATE_ROUTES = [route for route in ROUTES if route.endpoint not in PUBLIC]
PUBLIC_ROUTES = [route for route in ROUTES if route.endpoint in PUBLIC]


def test_every_public_endpoint_exists() -> None:
    # A name left here after its route is gone would hide nothing, but would mislead.
    assert {route.endpoint for route in PUBLIC_ROUTES} == set(PUBLIC)
    assert len(PRIVATE_ROUTES) >= 50


@pytest.mark.parametrize("route", PRIVATE_ROUTES, ids=lambda route: route.name)
def test_an_anonymous_request_is_sent_to_log_in(
    app: Flask,
    engine: Engine,
    settings: Settings,
    alice: Person,
    anonymous: Browser,
    route: Route,
) -> None:
    path = url_of(app, route, alice)
    before = snapshot(engine, settings.instance_dir)

    if route.method == "GET":
        response = anonymous.client.get(path)
    else:
        response = anonymous.client.post(path, data=PLAUSIBLE_FORM)

    assert response.status_code == 302, f"{route.name} answered {response.status_code}"
    assert urlsplit(response.headers["Location"]).path == "/login"
    page = response.get_data(as_text=True)
    assert not [word for word in alice.private_words if word in page]
    assert_same(before, snapshot(engine, settings.instance_dir), f"anonymous {route.name}")


@pytest.mark.parametrize(
    "route",
    [route for route in PUBLIC_ROUTES if route.method == "GET"],
    ids=lambda route: route.name,
)
def test_the_public_pages_open_without_a_login(
    app: Flask, alice: Person, anonymous: Browser, route: Route
) -> None:
    response = anonymous.client.get(url_of(app, route, alice))
    page = response.get_data(as_text=True)
    response.close()  # a static file is streamed from an open file

    assert response.status_code == 200
    assert not [word for word in alice.private_words if word in page]
