"""Message templates: the list, the editor and its variables, preview, save, reset."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import Message, MessageKind, MessageStatus, Template, User
from outreach.rules import templates
from tests.factories import make_contact, make_user
from tests.web.conftest import Browser, start_target

SUBJECT = "A question about {{ target }}, {{ first_name }}"
BODY = "Hello {{ first_name }},\n\nI found you through {{ how_found }}.\n\n{{ my_signature }}\n"


def editor(browser: Browser, kind: str = "request", **fields: str | int) -> tuple[int, str]:
    """Post the editor of `kind` (a preview unless `save` is given); the status and page."""
    form: dict[str, object] = {"subject": SUBJECT, "body": BODY}
    form.update(fields)
    response = browser.post(f"/templates/{kind}", form, page=f"/templates/{kind}")
    return response.status_code, response.get_data(as_text=True)


def save(browser: Browser, kind: str = "request", **fields: str | int) -> tuple[int, str]:
    return editor(browser, kind, save="1", **fields)


def section(page: str, hook: str) -> str:
    """The element opened by `hook` (e.g. 'id="template-preview"'), up to its section's end."""
    return page.split(hook, 1)[1].split("</section>", 1)[0]


def textarea(page: str) -> str:
    found = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None
    # A browser drops the newline WTForms puts after the opening tag.
    return html.unescape(found.group(1)).removeprefix("\r\n")


def own_templates(session: Session, user: User) -> list[Template]:
    session.expire_all()
    return list(session.scalars(select(Template).where(Template.user_id == user.id)))


def test_the_list_shows_every_kind_with_the_built_in_wording(signed_in: Browser) -> None:
    page = signed_in.page("/templates")

    assert '<a href="/templates" aria-current="page">Templates</a>' in page
    kinds = re.findall(r'<tr data-kind="([a-z_]+)" data-default="true">', page)
    assert kinds == ["request", "follow_up", "confirmation", "thank_you", "keep_in_touch"]
    assert "First request" in page
    # Non-breaking spaces keep each {{ variable }} on one line.
    assert "Could I ask your advice about {{\u00a0field\u00a0}}?" in page
    assert "“Re:” and the request’s subject, in its thread" in page


def test_the_editor_shows_the_current_text_the_variables_and_a_preview(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, name="Ada Able", how_found="your talk at the policy forum")
    session.commit()
    subject, body = templates.load_default("request")

    page = signed_in.page("/templates/request")

    form = page.split('<form id="template-editor"', 1)[1].split("</form>", 1)[0]
    assert 'name="csrf_token"' in form
    assert f'value="{html.escape(subject)}"' in form
    assert textarea(page).strip() == body.strip()
    variables = page.split('<table class="table compact" id="template-variables">')[1]
    names = re.findall(r"<tr data-variable=\"(\w+)\"><td><code>\{\{ (\w+) \}\}</code>", variables)
    assert [name for name, _ in names] == list(templates.VARIABLES)
    assert all(name == shown for name, shown in names)
    assert html.escape(templates.VARIABLES["how_found"]) in variables
    preview = section(page, 'id="template-preview"')
    assert "As a draft to <strong>Ada Able</strong> would read" in preview
    assert "Dear Ada," in preview
    assert "I came across your name through your talk at the policy forum." in preview


def test_a_saved_request_template_is_used_by_a_new_targets_draft(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able", how_found="the alumni network")
    session.commit()

    response = signed_in.post(
        "/templates/request",
        {"subject": SUBJECT, "body": BODY, "save": "1"},
        page="/templates/request",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Your first request template is saved. New drafts use it." in page
    assert 'data-default="false"' in page
    [row] = own_templates(session, user)
    assert (row.kind, row.subject, row.body) == (MessageKind.REQUEST, SUBJECT, BODY)
    assert 'data-kind="request" data-default="false"' in signed_in.page("/templates")

    created = signed_in.post(
        "/targets",
        {
            "name": "Science policy (spring)",
            "field_phrase": "Science policy",
            "contact_ids": [str(ada.id)],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
        page="/targets",
    )
    assert created.status_code == 302

    draft = session.scalar(select(Message).where(Message.status == MessageStatus.DRAFT))
    assert draft is not None and draft.error is None
    assert draft.subject == "A question about Science policy, Ada"
    assert draft.body_text.startswith("Hello Ada,\n\nI found you through the alumni network.")
    assert "A question about Science policy, Ada" in signed_in.page("/drafts")


def test_saving_again_replaces_the_users_own_text(
    signed_in: Browser, user: User, session: Session
) -> None:
    save(signed_in)
    status, _ = save(signed_in, subject="Second wording for {{ first_name }}")

    assert status == 302
    [row] = own_templates(session, user)
    assert row.subject == "Second wording for {{ first_name }}"


def test_an_unknown_variable_is_refused_with_the_ones_allowed(
    signed_in: Browser, user: User, session: Session
) -> None:
    body = "Dear {{ frist_name }},\n\nHello from {{ my_nam }}.\n"

    status, page = save(signed_in, body=body)

    assert status == 400
    problem = page.split('<div class="problem" role="alert">', 1)[1].split("</div>", 1)[0]
    assert (
        "The template uses {{ frist_name }} and {{ my_nam }}, which are not variables we know; "
        f"the variables you can use are {', '.join(templates.VARIABLES)}." in problem
    )
    assert textarea(page) == body
    assert own_templates(session, user) == []


def test_a_syntax_error_is_refused_with_its_line(
    signed_in: Browser, user: User, session: Session
) -> None:
    body = "Dear {{ first_name }},\n\nThanks to {{ how_found\n"

    status, page = save(signed_in, body=body)

    assert status == 400
    assert re.search(
        r'<div class="problem" role="alert"><strong>Not saved\.</strong> '
        r"The message has an error on line 3: [^<]+</div>",
        page,
    ), page
    assert textarea(page) == body
    assert own_templates(session, user) == []


def test_a_syntax_error_in_the_subject_says_so(signed_in: Browser) -> None:
    status, page = save(signed_in, subject="About {% if target %}")

    assert status == 400
    assert "The subject has an error on line 1:" in page
    assert 'value="About {% if target %}"' in page


@pytest.mark.parametrize(
    "body",
    [
        "{{ first_name.__class__ }}",
        "{{ first_name.__class__.__mro__[1].__subclasses__() }}",
        "{{ my_name.format.__globals__ }}",
        "{% for c in first_name.__class__.__mro__ %}{{ c }}{% endfor %}",
    ],
)
def test_a_template_reaching_for_python_internals_is_refused_never_a_crash(
    signed_in: Browser, user: User, session: Session, body: str
) -> None:
    status, page = save(signed_in, body=body)

    assert status == 400
    assert '<div class="problem" role="alert">' in page
    assert "not allowed" in page or "undefined" in page
    assert textarea(page).strip() == body
    assert own_templates(session, user) == []

    status, page = editor(signed_in, body=body)

    assert status == 200
    problem = section(page, 'id="template-preview"')
    assert '<div class="problem" role="alert">' in problem
    assert "&lt;class" not in page


def test_an_empty_message_is_refused(signed_in: Browser, user: User, session: Session) -> None:
    status, page = save(signed_in, body="   \n  ")

    assert status == 400
    assert "Write the message." in page
    assert own_templates(session, user) == []


def test_preview_renders_the_unsaved_text_for_the_chosen_contact(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, name="Ada Able")
    ben = make_contact(session, user, name="Ben Baker", how_found="the careers fair")
    session.commit()

    status, page = editor(signed_in, contact_id=ben.id)

    assert status == 200
    preview = section(page, 'id="template-preview"')
    assert "As a draft to <strong>Ben Baker</strong> would read" in preview
    assert '<dd class="subject">A question about science policy, Ben</dd>' in preview
    assert "Hello Ben,\n\nI found you through the careers fair." in preview
    assert f'<option selected value="{ben.id}">' in page
    # Nothing is saved by a preview.
    assert own_templates(session, user) == []
    assert 'data-default="true"' in page


def test_preview_names_the_contact_with_a_missing_variable(
    signed_in: Browser, user: User, session: Session
) -> None:
    hal = make_contact(session, user, name="Hal Hidden", how_found="")
    session.commit()

    status, page = editor(signed_in, contact_id=hal.id)

    assert status == 200
    preview = section(page, 'id="template-preview"')
    assert (
        '<div class="problem" role="alert"><strong>A draft to Hal Hidden could not be written.'
        "</strong> The variable &#39;how_found&#39; is missing or empty for Hal Hidden.</div>"
    ) in preview


def test_preview_uses_the_contacts_own_target(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    start_target(
        session, user, [ada], name="Marine (Devon list)", field_phrase="marine conservation"
    )
    session.commit()

    _, page = editor(signed_in, contact_id=ada.id)

    # The target's field phrase, never the list's name.
    assert "A question about marine conservation, Ada" in page
    assert "Devon list" not in section(page, 'id="template-preview"')


def test_without_contacts_the_preview_uses_clearly_made_up_values(signed_in: Browser) -> None:
    page = signed_in.page("/templates/request")

    preview = section(page, 'id="template-preview"')
    assert "You have no contacts yet" in preview
    assert "<select" not in preview
    assert "As a draft to <strong>Alex Example (a sample contact)</strong>" in preview
    assert "Dear Alex," in preview


def test_a_follow_up_preview_has_the_requests_subject(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, name="Ada Able")
    session.commit()
    save(signed_in)

    page = signed_in.page("/templates/follow_up")

    assert "its subject is “Re:” and the request’s subject" in page
    assert '<dd class="subject">Re: A question about science policy, Ada</dd>' in page


def test_back_to_the_default(signed_in: Browser, user: User, session: Session) -> None:
    save(signed_in)
    page = signed_in.page("/templates/request")
    assert 'form id="template-reset"' in page

    response = signed_in.post(
        "/templates/request/reset", page="/templates/request", follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert "The first request is back to the built-in wording." in page
    assert own_templates(session, user) == []
    subject, _ = templates.load_default("request")
    assert f'value="{html.escape(subject)}"' in page
    assert 'form id="template-reset"' not in page


def test_another_users_contact_in_a_preview_is_not_found(
    signed_in: Browser, session: Session
) -> None:
    alice = make_user(session, name="Alice Other")
    carol = make_contact(session, alice, name="Carol Contact")
    session.commit()

    status, page = editor(signed_in, contact_id=carol.id)

    assert status == 404
    assert "Carol Contact" not in page


@pytest.mark.parametrize("kind", ["reply", "bounce", "nonsense"])
def test_an_unknown_kind_is_not_found(signed_in: Browser, kind: str) -> None:
    assert signed_in.get(f"/templates/{kind}").status_code == 404
    response = signed_in.post(f"/templates/{kind}", {"subject": "x", "body": "y", "save": "1"})
    assert response.status_code == 404
    assert signed_in.post(f"/templates/{kind}/reset").status_code == 404


def test_each_other_user_keeps_their_own_wording(
    signed_in: Browser, user: User, session: Session
) -> None:
    alice = make_user(session, name="Alice Other")
    session.add(Template(user_id=alice.id, kind=MessageKind.REQUEST, subject="Hi", body="Hi"))
    session.commit()

    page = signed_in.page("/templates/request")
    assert 'data-default="true"' in page

    save(signed_in)
    signed_in.post("/templates/request/reset", page="/templates/request")

    count = select(func.count()).select_from(Template).where(Template.user_id == alice.id)
    assert session.scalar(count) == 1


def test_saving_and_resetting_need_the_csrf_token(
    signed_in: Browser, user: User, session: Session
) -> None:
    response = signed_in.client.post(
        "/templates/request", data={"subject": SUBJECT, "body": BODY, "save": "1"}
    )
    assert response.status_code == 400
    assert "This form was out of date" in response.get_data(as_text=True)
    assert own_templates(session, user) == []

    save(signed_in)
    assert signed_in.client.post("/templates/request/reset").status_code == 400
    assert len(own_templates(session, user)) == 1
