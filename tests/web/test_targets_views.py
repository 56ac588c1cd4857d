"""Targets: creating one drafts the first request; its page orders, adds, removes, pauses
and resumes names, and changes how the cycle runs. Another user's target is a 404.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import Contact, Message, MessageStatus, Outreach, Target, User
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import Browser, csrf_token_in, start_target


def create(browser: Browser, name: str, contact_ids: list[int], **extra: str) -> str:
    form: dict[str, object] = {
        "name": name,
        "field_phrase": name.lower(),
        "contact_ids": [str(ident) for ident in contact_ids],
        "max_in_flight": "1",
        "wait_business_days": "5",
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
    assert "Could I ask your advice about science policy?" in drafts
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
        {
            "name": "Publishing",
            "field_phrase": "publishing",
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
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


# --- the target's page ------------------------------------------------------------------------


def people(session: Session, user: User, *names: str) -> list[Contact]:
    """Contacts at different organisations: the one-per-organisation rule stays out of the way."""
    return [make_contact(session, user, name=name, organisation=f"{name} Office") for name in names]


def settings_form(**changes: str) -> dict[str, str]:
    form = {
        "max_in_flight": "1",
        "wait_business_days": "5",
        "send_follow_up": "y",
        "give_up_business_days": "5",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value != "-"}


def state_of(session: Session, contact: Contact) -> OutreachState:
    session.expire_all()
    state = session.scalar(select(Outreach.state).where(Outreach.contact_id == contact.id))
    assert state is not None
    return state


def test_the_page_shows_where_each_name_stands_and_what_happens_next(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")

    assert names_in_order(page) == [ada.id, ben.id]
    assert "waiting for your approval" in page
    assert "waits its turn on the list" in page
    assert re.search(r"<strong>1</strong> in progress", page)
    assert re.search(r"<strong>1</strong> still to ask", page)
    assert 'id="list-exhausted"' not in page
    assert 'aria-label="Move Ada Able down"' in page
    # The first name cannot go up, the last cannot go down.
    assert re.search(r'aria-label="Move Ada Able up"[^>]*disabled', page)
    assert re.search(r'aria-label="Move Ben Baker down"[^>]*disabled', page)


def test_the_settings_show_the_polite_defaults(
    signed_in: Browser, user: User, session: Session
) -> None:
    target, _ = start_target(session, user, [])
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")

    form = page.split('id="target-settings"')[1].split("</form>")[0]
    assert re.search(r'name="max_in_flight"[^>]*value="1"', form)
    assert re.search(r'name="wait_business_days"[^>]*value="5"', form)
    assert re.search(r'name="give_up_business_days"[^>]*value="5"', form)
    assert re.search(r'<input checked id="send_follow_up"', form)
    assert re.search(r'<input id="allow_same_organisation"', form)
    assert (
        '<label for="wait_business_days">Business days to wait before a follow-up</label>' in form
    )


def test_saving_settings_changes_how_the_list_runs(
    signed_in: Browser, user: User, session: Session
) -> None:
    target, _ = start_target(session, user, [])
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/settings",
        settings_form(
            max_in_flight="2",
            wait_business_days="7",
            send_follow_up="-",
            give_up_business_days="3",
            allow_same_organisation="y",
        ),
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "Settings saved." in page
    assert "2 requests out at a time · no follow-up; moving on after 7 business days" in page
    session.refresh(target)
    assert (
        target.max_in_flight,
        target.wait_business_days,
        target.send_follow_up,
        target.give_up_business_days,
        target.allow_same_organisation,
    ) == (2, 7, False, 3, True)


def test_a_second_place_drafts_the_next_name_at_once(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/settings",
        settings_form(max_in_flight="2"),
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    assert "A request to Ben Baker is waiting for your approval" in response.get_data(as_text=True)
    assert state_of(session, ben) is OutreachState.DRAFTED


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"max_in_flight": "0"}, "max_in_flight", "Give a number of requests from 1 to 10."),
        ({"max_in_flight": "11"}, "max_in_flight", "Give a number of requests from 1 to 10."),
        ({"max_in_flight": ""}, "max_in_flight", "Give a number of requests from 1 to 10."),
        (
            {"wait_business_days": "31"},
            "wait_business_days",
            "Give a number of business days from 1 to 30.",
        ),
        (
            {"give_up_business_days": "soon"},
            "give_up_business_days",
            "Give a number of business days from 1 to 30.",
        ),
    ],
)
def test_settings_out_of_range_are_refused_with_the_reason_by_the_field(
    signed_in: Browser,
    user: User,
    session: Session,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    target, _ = start_target(session, user, [])
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/settings", settings_form(**changes), page=f"/targets/{target.id}"
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The settings were not saved: see the reasons by the fields." in page
    block = re.search(
        rf'<div class="field has-error">\s*<label for="{field}">.*?</div>', page, re.S
    )
    assert block is not None, page
    assert f'<p class="field-error">{message}</p>' in block.group(0)
    session.refresh(target)
    assert (target.max_in_flight, target.wait_business_days, target.give_up_business_days) == (
        1,
        5,
        5,
    )


def move(browser: Browser, target: Target, contact: Contact, position: int, **options: Any) -> Any:
    return browser.post(
        f"/targets/{target.id}/names/{contact.id}/move",
        {"position": str(position)},
        page=f"/targets/{target.id}",
        **options,
    )


def test_moving_a_name_up_and_down_reorders_the_list(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben, cy = people(session, user, "Ada Able", "Ben Baker", "Cy Cole")
    target, _ = start_target(session, user, [ada, ben, cy])
    session.commit()

    page = move(signed_in, target, cy, 1, follow_redirects=True).get_data(as_text=True)
    assert "Cy Cole is now number 1 on the list." in page
    assert names_in_order(page) == [cy.id, ada.id, ben.id]

    page = move(signed_in, target, cy, 3, follow_redirects=True).get_data(as_text=True)
    assert names_in_order(page) == [ada.id, ben.id, cy.id]


def test_the_drag_and_drop_script_gets_the_new_order_as_json(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    session.commit()

    response = move(signed_in, target, ben, 1, headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.get_json() == {
        "order": [ben.id, ada.id],
        "message": "Ben Baker is now number 1 on the list.",
    }
    refused = move(signed_in, target, ben, 9, headers={"Accept": "application/json"})
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "Choose a place between 1 and 2 on the list."}


def test_a_place_off_the_list_is_refused_in_words(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    session.commit()

    page = move(signed_in, target, ada, 0, follow_redirects=True).get_data(as_text=True)

    assert "Choose a place between 1 and 2 on the list." in page
    assert names_in_order(page) == [ada.id, ben.id]


def test_removing_a_name_not_yet_asked_takes_it_off_the_list(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/names/{ben.id}/remove",
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "Ben Baker is off the list." in page
    assert names_in_order(page) == [ada.id]
    # Off the list, the contact can be added again.
    assert f'name="contact_ids" value="{ben.id}"' in page


def test_stopping_a_drafted_name_gives_its_place_to_the_next(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, [draft] = start_target(session, user, [ada, ben])
    session.commit()

    response = signed_in.post(
        f"/targets/{target.id}/names/{ada.id}/remove",
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "Ada Able is stopped: nothing more goes to them from this list." in page
    assert "A request to Ben Baker is waiting for your approval in Drafts." in page
    assert state_of(session, ada) is OutreachState.STOPPED
    assert state_of(session, ben) is OutreachState.DRAFTED
    assert session.get_one(Message, draft.id).status is MessageStatus.CANCELLED


def test_someone_who_answered_cannot_be_removed(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    [ada] = people(session, user, "Ada Able")
    target, [draft] = start_target(session, user, [ada])
    approve(session, user, draft.id, NOW)
    record_sent(session, draft.id, NOW)
    outreach = session.get_one(Outreach, draft.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW)
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")
    assert f'action="/targets/{target.id}/names/{ada.id}/remove"' not in page
    response = signed_in.post(
        f"/targets/{target.id}/names/{ada.id}/remove",
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )

    assert "there is nothing left to stop" in response.get_data(as_text=True)
    assert state_of(session, ada) is OutreachState.REPLIED


def test_pausing_stops_new_drafts_and_resuming_catches_up(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada])
    session.commit()

    paused = signed_in.post(
        f"/targets/{target.id}/pause", page=f"/targets/{target.id}", follow_redirects=True
    ).get_data(as_text=True)
    assert "is paused: no new request or follow-up is drafted until you resume." in paused
    assert 'id="paused-notice"' in paused
    assert 'data-action="resume"' in paused and 'data-action="pause"' not in paused
    session.refresh(target)
    assert target.paused

    # A place freed while paused is not filled.
    signed_in.post(f"/targets/{target.id}/names/{ada.id}/remove", page=f"/targets/{target.id}")
    signed_in.post(
        f"/targets/{target.id}/names", {"contact_ids": [str(ben.id)]}, page=f"/targets/{target.id}"
    )
    assert state_of(session, ben) is OutreachState.PLANNED

    resumed = signed_in.post(
        f"/targets/{target.id}/resume", page=f"/targets/{target.id}", follow_redirects=True
    ).get_data(as_text=True)
    assert "is running again. A request to Ben Baker is waiting for your approval" in resumed
    assert 'data-action="pause"' in resumed
    session.refresh(target)
    assert not target.paused
    assert state_of(session, ben) is OutreachState.DRAFTED


def test_when_the_list_runs_out_it_says_so_and_suggests_referrals_first(
    signed_in: Browser, user: User, session: Session
) -> None:
    [ada] = people(session, user, "Ada Able")
    target, _ = start_target(session, user, [ada])
    plain = make_contact(session, user, name="Aaron Plain", organisation="Plain Office")
    referred = make_contact(
        session, user, name="Zed Suggested", organisation="Zed Office", referred_by_id=ada.id
    )
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")

    panel = page.split('id="list-exhausted"')[1].split("</section>")[0]
    assert "The list has run out" in panel
    assert (
        "Start with the people your contacts suggested: Zed Suggested (suggested by Ada Able)"
        in panel
    )
    assert f'name="contact_ids" value="{referred.id}"' in panel
    # In the list of names to add, the suggested person comes before the alphabet.
    addable = page.split('id="add-names-list"')[1]
    assert addable.index(f'value="{referred.id}"') < addable.index(f'value="{plain.id}"')
    assert "suggested by Ada Able" in addable

    response = signed_in.post(
        f"/targets/{target.id}/names",
        {"contact_ids": [str(referred.id)]},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    )
    assert names_in_order(response.get_data(as_text=True)) == [ada.id, referred.id]
    assert 'id="list-exhausted"' not in response.get_data(as_text=True)


def test_an_empty_target_asks_for_names(signed_in: Browser, user: User, session: Session) -> None:
    target, _ = start_target(session, user, [])
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")

    assert "No names yet" in page
    assert "This list is empty; add names to start." in page


# --- ownership and forms ----------------------------------------------------------------------


@pytest.fixture
def someone_elses(session: Session) -> tuple[Target, Contact]:
    other = make_user(session, name="Olga Other")
    contact = make_contact(session, other, name="Their Contact")
    target, _ = start_target(session, other, [contact], name="Their field")
    session.commit()
    return target, contact


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/targets/{t}/settings", settings_form(max_in_flight="5")),
        ("/targets/{t}/pause", {}),
        ("/targets/{t}/resume", {}),
        ("/targets/{t}/names/{c}/move", {"position": "1"}),
        ("/targets/{t}/names/{c}/remove", {}),
        ("/targets/{t}/names", {"contact_ids": ["{c}"]}),
    ],
)
def test_another_users_target_cannot_be_changed(
    signed_in: Browser,
    session: Session,
    someone_elses: tuple[Target, Contact],
    path: str,
    data: dict[str, Any],
) -> None:
    target, contact = someone_elses
    filled = {
        key: [v.format(c=contact.id) for v in value] if isinstance(value, list) else value
        for key, value in data.items()
    }

    response = signed_in.post(path.format(t=target.id, c=contact.id), filled)

    assert response.status_code == 404
    session.expire_all()
    assert (target.max_in_flight, target.paused) == (1, False)
    assert state_of(session, contact) is OutreachState.DRAFTED
    assert signed_in.get(f"/targets/{target.id}").status_code == 404


def test_a_contact_not_on_this_list_is_not_found(
    signed_in: Browser,
    user: User,
    session: Session,
    someone_elses: tuple[Target, Contact],
) -> None:
    [ada] = people(session, user, "Ada Able")
    mine, _ = start_target(session, user, [ada])
    session.commit()
    _, theirs = someone_elses

    for action in ("move", "remove"):
        response = signed_in.post(
            f"/targets/{mine.id}/names/{theirs.id}/{action}", {"position": "1"}
        )
        assert response.status_code == 404, action


def test_every_form_on_the_page_carries_a_token_and_needs_it(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada, ben = people(session, user, "Ada Able", "Ben Baker")
    target, _ = start_target(session, user, [ada, ben])
    make_contact(session, user, name="Cy Cole", organisation="Cole Office")
    session.commit()
    page = signed_in.page(f"/targets/{target.id}")

    forms = re.findall(r'<form[^>]*method="post".*?</form>', page, re.S)
    assert len(forms) >= 8
    for form in forms:
        assert csrf_token_in(form), form
    for path, data in [
        (f"/targets/{target.id}/settings", settings_form(max_in_flight="3")),
        (f"/targets/{target.id}/pause", {}),
        (f"/targets/{target.id}/names/{ben.id}/move", {"position": "1"}),
        (f"/targets/{target.id}/names/{ben.id}/remove", {}),
    ]:
        assert signed_in.client.post(path, data=data).status_code == 400, path
    session.expire_all()
    assert (target.max_in_flight, target.paused) == (1, False)
    assert names_in_order(signed_in.page(f"/targets/{target.id}")) == [ada.id, ben.id]
    assert session.scalar(select(func.count()).select_from(Outreach)) == 2


# --- never asked again (docs/decisions/0019) ---------------------------------------------------


def test_adding_a_decliner_says_why_and_the_override_needs_the_box_ticked(
    signed_in: Browser, user: User, session: Session
) -> None:
    dana, eli = people(session, user, "Dana Lee", "Eli Moss")
    start_target(session, user, [dana], name="Galleries")
    outreach = session.scalar(select(Outreach).where(Outreach.contact_id == dana.id))
    assert outreach is not None
    outreach.state = OutreachState.DECLINED
    target, _ = start_target(session, user, [eli], name="Museums")
    session.commit()

    added = signed_in.post(
        f"/targets/{target.id}/names",
        {"contact_ids": [str(dana.id)]},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    ).get_data(as_text=True)

    assert "Dana Lee declined on " in added and "not asked again." in added
    assert 'class="ask-again-form"' in added
    untick = signed_in.post(
        f"/targets/{target.id}/names/{dana.id}/ask-again",
        {},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Tick “I have a good reason to ask them again” first; nothing changed." in untick
    session.expire_all()
    held = session.scalar(
        select(Outreach).where(Outreach.contact_id == dana.id, Outreach.target_id == target.id)
    )
    assert held is not None and held.ask_again_at is None

    asked = signed_in.post(
        f"/targets/{target.id}/names/{dana.id}/ask-again",
        {"confirmed": "y"},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Recorded: you chose to ask Dana Lee again." in asked
    session.expire_all()
    assert held.ask_again_at is not None


def test_a_do_not_contact_name_is_held_back_with_no_override(
    signed_in: Browser, user: User, session: Session
) -> None:
    (dana,) = people(session, user, "Dana Lee")
    dana.do_not_contact = True
    target, _ = start_target(session, user, [dana], name="Museums")
    session.commit()

    page = signed_in.page(f"/targets/{target.id}")
    assert "Dana Lee is marked do-not-contact; never written to again." in page
    assert 'class="ask-again-form"' not in page
    refused = signed_in.post(
        f"/targets/{target.id}/names/{dana.id}/ask-again",
        {"confirmed": "y"},
        page=f"/targets/{target.id}",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "never written to again" in refused
    assert session.scalar(select(func.count()).select_from(Message)) == 0
