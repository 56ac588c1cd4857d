"""`next=` after logging in never leaves the site, however the address is dressed up."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.security.conftest import Person
from tests.web.conftest import PASSWORD, Browser

SITE = "http://localhost/"

ELSEWHERE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http://evil.example/board",
    "HTTPS://EVIL.EXAMPLE",
    "https:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "//evil.example@localhost",
    "//localhost@evil.example",
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    quote("//evil.example", safe=""),
    "/.//evil.example",
    "//\u3002evil.example",
]


def where_a_browser_goes(location: str) -> str:
    """The host a browser would open for a Location header, read as the URL standard reads it.

    Tabs and newlines are dropped and a backslash is a slash in http(s) URLs.
    """
    cleaned = re.sub(r"[\t\n\r]", "", location).strip(" \x00-\x1f").replace("\\", "/")
    return urlsplit(urljoin(SITE, cleaned)).netloc


def stays_on_site(location: str) -> bool:
    return where_a_browser_goes(location) == "localhost" and urlsplit(
        urljoin(SITE, location)
    ).scheme in ("http", "")


def test_the_check_itself_sees_a_way_out() -> None:
    # The judge must be able to say no, or every case below would pass.
    assert not stays_on_site("//evil.example")
    assert not stays_on_site("/\\evil.example")
    assert not stays_on_site("/\t/evil.example")
    assert stays_on_site("/contacts?page=2")


@pytest.mark.parametrize("target", ELSEWHERE, ids=repr)
def test_login_never_sends_you_elsewhere(anonymous: Browser, alice: Person, target: str) -> None:
    response = anonymous.post(
        "/login",
        {"email": alice.user.email, "password": PASSWORD, "next": target},
        page="/login",
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    assert stays_on_site(location), f"next={target!r} sent the browser to {location!r}"


@pytest.mark.parametrize("target", ELSEWHERE, ids=repr)
def test_the_login_page_does_not_carry_a_way_out(anonymous: Browser, target: str) -> None:
    response = anonymous.get("/login", query_string={"next": target})

    assert response.status_code == 200
    found = re.search(r'name="next"[^>]*value="([^"]*)"', response.get_data(as_text=True))
    carried = html.unescape(found.group(1)) if found else ""
    assert not carried or stays_on_site(carried), f"the form carries next={carried!r}"


def test_a_page_on_the_site_is_still_where_you_land(anonymous: Browser, alice: Person) -> None:
    asked = anonymous.get(f"/contacts/{alice.contact_id}")
    assert asked.status_code == 302
    login_page = anonymous.page(asked.headers["Location"])

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page)
    next_field = re.search(r'name="next"[^>]*value="([^"]*)"', login_page)
    assert token is not None and next_field is not None
    response = anonymous.client.post(
        "/login",
        data={
            "email": alice.user.email,
            "password": PASSWORD,
            "next": html.unescape(next_field.group(1)),
            "csrf_token": token.group(1),
        },
    )

    assert response.headers["Location"] == f"/contacts/{alice.contact_id}"
