"""Creating a target drafts the first request at once; its page lists the names in order."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Message, MessageStatus, Outreach, Target, User
from outreach.states import OutreachState
from tests.factories import make_contact
from tests.web.conftest import Browser, start_target


def create(browser: Browser, name: str, contact_ids: list[int], **extra: str) -> str:
    form: dict[str, object] = {
        "name": name,
        "contact_ids": [str(ident) for ident in contact_ids],
        "max_in_flight": "1",
        "wait_business_days": "7",
    }
    form.update(extra)
    response = browser.post("/targets", form, page="/targets", follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def names_in_order(page: str) -> list[int]:
    block = page.split('id="target-names"')[1].split("</ol>")[0]
    return [int(ident) for ident in re.findall(r'data-contact-id="(\d+)"', block)]


def test_creating_a_target_drafts_the_first_request(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able", email="ada@lab.example")
    ben = make_contact(session, user, name="Ben Baker")
    session.commit()

    page = create(signed_in, "Science policy", [ada.id, ben.id])

    assert "Target “Science policy” created." in page
    assert "A request to Ada Able is waiting for your approval in Drafts." in page
    assert f'<li data-contact-id="{ada.id}" data-state="drafted">' in page
    assert f'<li data-contact-id="{ben.id}" data-state="planned">' in page
    draft = session.scalar(select(Message).where(Message.status == MessageStatus.DRAFT))
    assert draft is not None and draft.to_address == "ada@lab.example"

    drafts = signed_in.page("/drafts")
    assert f'id="draft-{draft.id}"' in drafts
    assert "Ada Able &lt;ada@lab.example&gt;" in drafts
    assert "Could I ask you about your work in Science policy?" in drafts
    assert '<span id="pending-drafts-count" class="count count-active"' in drafts


def test_names_keep_the_order_of_the_list_not_of_the_request(
    signed_in: Browser, user: User, session: Session
) -> None:
    # The contacts page lists people by name, and so does the checkbox list.
    zoe = make_contact(session, user, name="Zoe Zeta")
    amy = make_contact(session, user, name="Amy Alpha")
    session.commit()

    page = create(signed_in, "Museums", [zoe.id, amy.id])

    assert names_in_order(page) == [amy.id, zoe.id]


def test_a_target_needs_a_name(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/targets",
        {"name": "   ", "max_in_flight": "1", "wait_business_days": "7"},
        page="/targets",
    )

    assert response.status_code == 400
    assert session.scalar(select(Target)) is None


def test_a_taken_name_is_refused_with_the_reason(
    signed_in: Browser, user: User, session: Session
) -> None:
    start_target(session, user, [], name="Publishing")
    session.commit()

    response = signed_in.post(
        "/targets",
        {"name": "Publishing", "max_in_flight": "1", "wait_business_days": "7"},
        page="/targets",
    )

    assert response.status_code == 400
    assert "You already have a target called &#39;Publishing&#39;." in response.get_data(
        as_text=True
    )


def test_a_wait_of_zero_days_is_refused(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/targets",
        {"name": "Impatient", "max_in_flight": "1", "wait_business_days": "0"},
        page="/targets",
    )

    assert response.status_code == 400
    assert session.scalar(select(Target)) is None


def test_names_added_later_join_the_end_of_the_list(
    signed_in: Browser, user: User, session: Session
) -> None:
    first = make_contact(session, user, name="First Person")
    target, _ = start_target(session, user, [first], name="Libraries")
    late = make_contact(session, user, name="Late Comer")
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/names",
        {"contact_ids": [str(late.id)]},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "1 name added." in page
    assert names_in_order(page) == [first.id, late.id]
    state = session.scalar(select(Outreach.state).where(Outreach.contact_id == late.id))
    assert state is OutreachState.PLANNED


def test_a_free_place_drafts_the_name_added(
    signed_in: Browser, user: User, session: Session
) -> None:
    target, _ = start_target(session, user, [], name="Empty at first")
    newcomer = make_contact(session, user, name="New Comer")
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/names",
        {"contact_ids": [str(newcomer.id)]},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    assert "A request to New Comer is waiting for your approval" in response.get_data(as_text=True)
