"""Targets: a field or organisation with an ordered list of names."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from outreach.board import STATE_LABELS, status_board
from outreach.contacts import list_contacts
from outreach.errors import ValidationError
from outreach.models import Contact, Message
from outreach.targets import (
    add_to_target,
    create_target,
    fill_pipeline,
    get_target,
    list_targets,
    outreaches_in_order,
)
from web.auth import current_user
from web.db import get_session
from web.forms import AddNamesForm, TargetForm
from web.helpers import now, sentence
from web.progress import request_progress, with_outbox_detail

bp = Blueprint("targets", __name__)


def in_list_order(chosen: Sequence[int], contacts: Sequence[Contact]) -> list[int]:
    """The ticked ids in the order the list shows them.

    Ids not on the list go last, so the core's ownership check still sees them
    (and answers 404) rather than this function hiding them.
    """
    position = {contact.id: index for index, contact in enumerate(contacts)}
    return sorted(dict.fromkeys(chosen), key=lambda ident: position.get(ident, len(position)))


def drafted_sentence(drafted: list[Message]) -> str:
    if not drafted:
        return ""
    names = ", ".join(message.contact.name if message.contact else "" for message in drafted)
    return f" A request to {names} is waiting for your approval in Drafts."


def _index_page(form: TargetForm) -> str:
    session = get_session()
    user = current_user()
    targets = list_targets(session, user)
    sizes = {target.id: len(outreaches_in_order(session, target)) for target in targets}
    return render_template(
        "targets/index.html",
        targets=targets,
        sizes=sizes,
        contacts=list_contacts(session, user),
        form=form,
    )


@bp.get("/targets")
def index() -> ResponseReturnValue:
    return _index_page(TargetForm())


@bp.post("/targets")
def create() -> ResponseReturnValue:
    """Create the target and draft the request to its first name(s) at once."""
    session = get_session()
    user = current_user()
    contacts = list_contacts(session, user)
    form = TargetForm()
    if not form.validate_on_submit():
        return _index_page(form), 400
    try:
        target = create_target(
            session,
            user,
            form.name.data,
            in_list_order(form.contact_ids.data or [], contacts),
            max_in_flight=form.max_in_flight.data,
            wait_business_days=form.wait_business_days.data,
        )
        drafted = fill_pipeline(session, user, target, now())
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        return _index_page(form), 400
    session.commit()
    flash(f"Target “{target.name}” created.{drafted_sentence(drafted)}", "success")
    return redirect(url_for("targets.detail", target_id=target.id))


@bp.get("/targets/<int:target_id>")
def detail(target_id: int) -> ResponseReturnValue:
    """The target's names in order, each with where it stands.

    :raise 404: when the target is not the user's.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    outreaches = outreaches_in_order(session, target)
    board, _ = with_outbox_detail(
        status_board(session, user, now(), target_id=target.id), request_progress(session, user)
    )
    rows = {row.contact_id: row for row in board}
    on_list = {outreach.contact_id for outreach in outreaches}
    addable = [contact for contact in list_contacts(session, user) if contact.id not in on_list]
    return render_template(
        "targets/detail.html",
        target=target,
        outreaches=outreaches,
        rows=rows,
        labels=STATE_LABELS,
        addable=addable,
        form=AddNamesForm(),
    )


@bp.post("/targets/<int:target_id>/names")
def add_names(target_id: int) -> ResponseReturnValue:
    """Append names to the end of the list; a free place gets a request draft at once.

    :raise 404: when the target or one of the contacts is not the user's.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    form = AddNamesForm()
    if not form.validate_on_submit() or not form.contact_ids.data:
        flash("Tick the names to add first.", "error")
        return redirect(url_for("targets.detail", target_id=target.id))
    try:
        for contact_id in in_list_order(form.contact_ids.data, list_contacts(session, user)):
            add_to_target(session, user, target, contact_id)
        drafted = fill_pipeline(session, user, target, now())
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        return redirect(url_for("targets.detail", target_id=target.id))
    session.commit()
    count = len(form.contact_ids.data)
    flash(
        f"{count} {'name' if count == 1 else 'names'} added.{drafted_sentence(drafted)}",
        "success",
    )
    return redirect(url_for("targets.detail", target_id=target.id))
