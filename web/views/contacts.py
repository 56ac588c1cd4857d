"""The list of people: add one, import many, and each person's timeline."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.board import status_board, timeline
from outreach.contacts import ContactInput, add_contact, get_contact, import_csv, list_contacts
from outreach.errors import ValidationError
from outreach.models import Contact
from web.auth import current_user
from web.db import get_session
from web.forms import ContactForm, ImportForm
from web.helpers import now, sentence
from web.progress import request_progress, with_outbox_detail

bp = Blueprint("contacts", __name__)


def _contact_form(contacts: list[Contact]) -> ContactForm:
    form = ContactForm()
    form.referred_by.choices = [SelectChoice("", "Nobody")] + [
        SelectChoice(str(contact.id), contact.name) for contact in contacts
    ]
    return form


def _render_index(form: ContactForm, contacts: list[Contact]) -> str:
    return render_template("contacts/index.html", form=form, contacts=contacts)


@bp.get("/contacts")
def index() -> ResponseReturnValue:
    contacts = list_contacts(get_session(), current_user())
    return _render_index(_contact_form(contacts), contacts)


@bp.post("/contacts")
def add() -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contacts = list_contacts(session, user)
    form = _contact_form(contacts)
    if not form.validate_on_submit():
        return _render_index(form, contacts), 400
    try:
        contact = add_contact(
            session,
            user,
            ContactInput(
                email=form.email.data,
                name=form.name.data,
                first_name=form.first_name.data or "",
                role=form.role.data or "",
                organisation=form.organisation.data or "",
                how_found=form.how_found.data or "",
                notes=form.notes.data or "",
                time_zone=form.time_zone.data or "",
                do_not_contact=bool(form.do_not_contact.data),
                referred_by_id=form.referred_by.data,
            ),
        )
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        return _render_index(form, contacts), 400
    session.commit()
    flash(f"{contact.name} is on your list.", "success")
    return redirect(url_for("contacts.index"))


@bp.get("/contacts/<int:contact_id>")
def detail(contact_id: int) -> ResponseReturnValue:
    """One person: their details, where they stand in each target, and their timeline.

    :raise 404: when the contact is not the user's.
    """
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    entries = timeline(session, user, contact.id)
    # A message is shown once, at the last event about it (its text is the current one).
    last_mention = {entry.message.id: index for index, entry in enumerate(entries) if entry.message}
    shown = [
        (entry, entry.message is not None and last_mention[entry.message.id] == index)
        for index, entry in enumerate(entries)
    ]
    standing, _ = with_outbox_detail(
        [row for row in status_board(session, user, now()) if row.contact_id == contact.id],
        request_progress(session, user),
    )
    return render_template(
        "contacts/detail.html", contact=contact, entries=shown, standing=standing
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheets on Windows save CSV in their own code page.
        return data.decode("cp1252", errors="replace")


@bp.get("/contacts/import")
def import_form() -> ResponseReturnValue:
    return render_template("contacts/import.html", form=ImportForm(), report=None)


@bp.post("/contacts/import")
def import_submit() -> ResponseReturnValue:
    """Import a CSV; the page lists what was added, what was already there, and bad rows."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("contacts/import.html", form=form, report=None), 400
    session = get_session()
    report = import_csv(session, current_user(), _decode(form.file.data.read()))
    session.commit()
    added = len(report.created)
    flash(
        f"{added} {'contact' if added == 1 else 'contacts'} added.",
        "success" if added else "info",
    )
    return render_template("contacts/import.html", form=ImportForm(formdata=None), report=report)
