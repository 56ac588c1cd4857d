"""The user's wording for each kind of message: edit, preview against a contact, save, reset.

Previewing posts the text being edited and renders the page again, with the
result underneath: no script, and nothing saved until "Save" is pressed.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.errors import ValidationError
from outreach.models import Contact, MessageKind
from outreach.rules import templates
from outreach.template_library import (
    KIND_LABELS,
    KIND_PURPOSES,
    SAMPLE_CONTACT_NAME,
    Preview,
    TemplateView,
    get_template,
    kind_from,
    list_templates,
    preview,
    preview_contacts,
    reset_template,
    save_template,
)
from web.auth import current_user
from web.db import get_session
from web.forms import TemplateForm
from web.helpers import clip, sentence
from web.limits import TEMPLATE_PREVIEW, throttled

bp = Blueprint("templates", __name__)


@bp.get("/templates")
def index() -> ResponseReturnValue:
    return render_template(
        "templates/index.html", views=list_templates(get_session(), current_user())
    )


def _with_contacts(form: TemplateForm, contacts: list[Contact]) -> TemplateForm:
    form.contact_id.choices = [
        SelectChoice(
            str(contact.id),
            clip(
                f"{contact.name}, {contact.organisation}" if contact.organisation else contact.name
            ),
        )
        for contact in contacts
    ]
    return form


def _editor(
    kind: MessageKind,
    current: TemplateView,
    form: TemplateForm,
    contacts: list[Contact],
    shown: Preview | None,
    problem: str | None = None,
) -> str:
    return render_template(
        "templates/edit.html",
        kind=kind,
        label=KIND_LABELS[kind],
        purpose=KIND_PURPOSES[kind],
        current=current,
        form=form,
        has_contacts=bool(contacts),
        sample_name=SAMPLE_CONTACT_NAME,
        variables=templates.VARIABLES,
        preview=shown,
        problem=problem,
    )


@bp.get("/templates/<kind_name>")
def edit(kind_name: str) -> ResponseReturnValue:
    """:raise 404: for anything but an outbound kind of message."""
    session = get_session()
    user = current_user()
    kind = kind_from(kind_name)
    current = get_template(session, user, kind)
    contacts = preview_contacts(session, user)
    form = _with_contacts(TemplateForm(subject=current.subject, body=current.body), contacts)
    shown = preview(session, user, kind, current.subject, current.body, None)
    return _editor(kind, current, form, contacts, shown)


def _preview_refused(message: str) -> ResponseReturnValue:
    """The editor again with the text as posted, so nothing typed is lost."""
    session = get_session()
    user = current_user()
    kind = kind_from((request.view_args or {}).get("kind_name", ""))
    contacts = preview_contacts(session, user)
    form = _with_contacts(TemplateForm(), contacts)
    flash(message, "error")
    return _editor(kind, get_template(session, user, kind), form, contacts, None)


@bp.post("/templates/<kind_name>")
@throttled(TEMPLATE_PREVIEW, refused=_preview_refused)
def submit(kind_name: str) -> ResponseReturnValue:
    """Preview the posted text, or save it (the "save" button).

    :raise 404: for an unknown kind, or a contact that is not the user's.
    """
    session = get_session()
    user = current_user()
    kind = kind_from(kind_name)
    current = get_template(session, user, kind)
    contacts = preview_contacts(session, user)
    form = _with_contacts(TemplateForm(), contacts)
    if not form.validate_on_submit():
        return _editor(kind, current, form, contacts, None), 400
    if "save" not in request.form:
        shown = preview(
            session, user, kind, form.subject.data, form.body.data, form.contact_id.data
        )
        return _editor(kind, current, form, contacts, shown)
    try:
        save_template(session, user, kind, form.subject.data, form.body.data)
    except ValidationError as error:
        session.rollback()
        return _editor(kind, current, form, contacts, None, problem=sentence(error)), 400
    session.commit()
    flash(f"Your {KIND_LABELS[kind].lower()} template is saved. New drafts use it.", "success")
    return redirect(url_for("templates.edit", kind_name=kind.value))


@bp.post("/templates/<kind_name>/reset")
def reset(kind_name: str) -> ResponseReturnValue:
    """:raise 404: for anything but an outbound kind of message."""
    session = get_session()
    kind = kind_from(kind_name)
    reset_template(session, current_user(), kind)
    session.commit()
    flash(
        f"The {KIND_LABELS[kind].lower()} is back to the built-in wording. New drafts use it.",
        "success",
    )
    return redirect(url_for("templates.edit", kind_name=kind.value))
