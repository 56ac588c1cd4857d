"""Changing a person: edit every field, delete, merge two records, write again after a bounce."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.contact_changes import (
    delete_contact,
    merge_contacts,
    preview_deletion,
    resend_request,
    update_contact,
)
from outreach.contacts import ContactInput, get_contact, list_contacts
from outreach.models import Contact
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import ActionForm, ContactForm, MergeForm
from web.helpers import clip, now

bp = Blueprint("contact_changes", __name__)


def _edit_form(contact: Contact, others: list[Contact]) -> ContactForm:
    form = ContactForm(obj=contact)
    form.referred_by.choices = [SelectChoice("", "Nobody")] + [
        SelectChoice(str(other.id), clip(other.name)) for other in others if other.id != contact.id
    ]
    if not form.is_submitted():
        form.referred_by.data = contact.referred_by_id
    return form


def _render_edit(form: ContactForm, contact: Contact) -> str:
    return render_template("contacts/edit.html", form=form, contact=contact)


@bp.get("/contacts/<int:contact_id>/edit")
def edit(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    return _render_edit(_edit_form(contact, list_contacts(session, user)), contact)


@bp.post("/contacts/<int:contact_id>/edit")
def save(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    form = _edit_form(contact, list_contacts(session, user))
    if not form.validate_on_submit():
        return _render_edit(form, contact), 400
    with attempt(session) as outcome:
        edited = update_contact(
            session,
            user,
            contact.id,
            ContactInput(
                email=form.email.data,
                name=form.name.data,
                first_name=form.first_name.data or "",
                role=form.role.data or "",
                organisation=form.organisation.data or "",
                how_found=form.how_found.data or "",
                why_you=form.why_you.data or "",
                notes=form.notes.data or "",
                time_zone=form.time_zone.data or "",
                do_not_contact=bool(form.do_not_contact.data),
                referred_by_id=form.referred_by.data,
            ),
            now(),
        )
    if outcome.refused:
        session.refresh(contact)
        return _render_edit(form, contact), 400
    words = f"{edited.contact.name} is saved."
    if edited.address_changed:
        words += f" Messages from now on go to {edited.contact.email}"
        if edited.readdressed:
            words += f", including the {edited.readdressed} not yet sent"
        words += "."
    flash(words, "success")
    return redirect(url_for("contacts.detail", contact_id=contact.id))


@bp.get("/contacts/<int:contact_id>/delete")
def confirm_delete(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    return render_template(
        "contacts/delete.html",
        contact=contact,
        preview=preview_deletion(session, user, contact.id),
        form=ActionForm(),
    )


@bp.post("/contacts/<int:contact_id>/delete")
def delete(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("contact_changes.confirm_delete", contact_id=contact.id))
    with attempt(session) as outcome:
        deleted = delete_contact(session, user, contact.id, now())
    if outcome.refused:
        return redirect(url_for("contacts.detail", contact_id=contact_id))
    words = f"{deleted.name} is deleted, with their history."
    if deleted.cancelled:
        words += f" {_count(deleted.cancelled, 'message')} not yet sent will not go out."
    if deleted.drafted:
        names = ", ".join(draft.contact.name for draft in deleted.drafted if draft.contact)
        words += f" Their place went to the next name: a request to {names} waits in Drafts."
    flash(words, "success")
    return redirect(url_for("contacts.index"))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _merge_form(contact: Contact, others: list[Contact]) -> MergeForm:
    form = MergeForm()
    form.other.choices = [SelectChoice("", "Choose…")] + [
        SelectChoice(str(other.id), clip(f"{other.name} ({other.email})"))
        for other in others
        if other.id != contact.id
    ]
    return form


def _render_merge(form: MergeForm, contact: Contact) -> str:
    return render_template("contacts/merge.html", form=form, contact=contact)


@bp.get("/contacts/<int:contact_id>/merge")
def choose_merge(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    return _render_merge(_merge_form(contact, list_contacts(session, user)), contact)


@bp.post("/contacts/<int:contact_id>/merge")
def merge(contact_id: int) -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    form = _merge_form(contact, list_contacts(session, user))
    if not form.validate_on_submit() or form.other.data is None:
        if not form.other.errors:
            form.other.errors = ["Choose the other record of this person."]
        return _render_merge(form, contact), 400
    with attempt(session) as outcome:
        merged = merge_contacts(session, user, contact.id, form.other.data, now())
    if outcome.refused:
        return _render_merge(form, contact), 400
    words = (
        f"{merged.other_name} ({merged.other_email}) is merged into {merged.kept.name}: "
        "their messages, meetings and targets are here now."
    )
    if merged.shared_targets:
        words += (
            f" On {', '.join(merged.shared_targets)}, where both were, the conversation that "
            "went further is kept"
        )
        words += (
            f" and {_count(merged.cancelled, 'draft')} not yet sent is cancelled."
            if (merged.cancelled)
            else "."
        )
    flash(words, "success")
    return redirect(url_for("contacts.detail", contact_id=contact.id))


@bp.post("/contacts/<int:contact_id>/targets/<int:target_id>/resend")
def resend(contact_id: int, target_id: int) -> ResponseReturnValue:
    """Write the request again to the corrected address; it waits in Drafts for approval."""
    session = get_session()
    user = current_user()
    contact = get_contact(session, user, contact_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("contacts.detail", contact_id=contact.id))
    with attempt(session) as outcome:
        draft = resend_request(session, user, contact.id, target_id, now())
    if outcome.refused:
        return redirect(url_for("contacts.detail", contact_id=contact.id))
    if draft.status.value == "draft":
        flash(
            f"A new request to {draft.to_address} waits in Drafts: read it and approve it.",
            "success",
        )
    else:
        flash(f"A new request to {draft.to_address} is approved and in the Outbox.", "success")
    return redirect(url_for("contacts.detail", contact_id=contact.id))
