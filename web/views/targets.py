"""Targets: a field or organisation with an ordered list of names, and how its cycle runs.

The target's page lists its names in order with where each stands; the user
reorders them (buttons, or drag and drop where JavaScript runs), adds and
removes names, pauses and resumes the cycle, and changes its settings. Every
route looks the target up through the core with the signed-in user, so
someone else's target is a 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach import target_actions
from outreach.asking_again import held_back
from outreach.board import STATE_LABELS, status_board
from outreach.contacts import list_contacts
from outreach.errors import ValidationError
from outreach.field_phrases import set_field_phrase, unconfirmed_targets
from outreach.models import Contact, Message, Target
from outreach.progress_stats import names_per_target
from outreach.rules.states import OutreachState
from outreach.rules.wording import plural
from outreach.targets import (
    get_target,
    list_targets,
    move_entry,
    outreaches_in_order,
    pause_target,
    target_summary,
)
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import (
    AddNamesForm,
    AskAgainForm,
    FieldPhraseForm,
    MoveForm,
    TargetForm,
    TargetSettingsForm,
)
from web.helpers import now, sentence
from web.progress import request_progress, with_outbox_detail
from web.state import services

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


def flash_held_back(target: Target, added: Sequence[int]) -> None:
    """Say which of the names just added are not asked, and why, in words
    (outreach.asking_again)."""
    for held in held_back(get_session(), current_user(), target.id, now()):
        if held.contact_id not in added:
            continue
        more = " You can ask them again from the list below." if held.may_override else ""
        flash(f"{sentence(held.sentence)}{more}", "warning")


def _index_page(form: TargetForm) -> str:
    session = get_session()
    user = current_user()
    targets = list_targets(session, user)
    sizes = names_per_target(session, user)
    return render_template(
        "targets/index.html",
        targets=targets,
        sizes=sizes,
        contacts=list_contacts(session, user),
        form=form,
        unconfirmed=unconfirmed_targets(session, user),
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
    with attempt(session) as outcome:
        target, drafted = target_actions.start_target(
            session,
            user,
            form.name.data,
            in_list_order(form.contact_ids.data or [], contacts),
            now(),
            max_in_flight=form.max_in_flight.data,
            wait_business_days=form.wait_business_days.data,
            field_phrase=form.field_phrase.data,
        )
    if outcome.refused:
        return _index_page(form), 400
    flash(f"Target “{target.name}” created.{drafted_sentence(drafted)}", "success")
    flash_held_back(target, form.contact_ids.data or [])
    return redirect(url_for("targets.detail", target_id=target.id))


def addable_contacts(contacts: Sequence[Contact], on_list: set[int]) -> list[Contact]:
    """Contacts not on this list: people someone suggested first, then the rest by name."""
    left = [contact for contact in contacts if contact.id not in on_list]
    return sorted(left, key=lambda contact: contact.referred_by_id is None)


def _days(count: int) -> str:
    return plural(count, "business day")


def rules_in_words(target: Target) -> str:
    """ "1 request out at a time · one follow-up after 5 business days, then 5 more before ..." """
    parts = [
        f"{target.max_in_flight} request{'s' if target.max_in_flight != 1 else ''} out at a time"
    ]
    if target.send_follow_up:
        parts.append(
            f"one follow-up after {_days(target.wait_business_days)}, "
            f"then {target.give_up_business_days} more before moving on"
        )
    else:
        parts.append(f"no follow-up; moving on after {_days(target.wait_business_days)}")
    if target.allow_same_organisation:
        parts.append("two at one organisation allowed")
    return " · ".join(parts)


def _detail_page(
    target: Target,
    settings: TargetSettingsForm | None = None,
    phrase_form: FieldPhraseForm | None = None,
) -> str:
    session = get_session()
    user = current_user()
    outreaches = outreaches_in_order(session, target)
    board, _ = with_outbox_detail(
        status_board(
            session,
            user,
            now(),
            target_id=target.id,
            sandbox_day_seconds=services().settings.sandbox_day_seconds,
        ),
        request_progress(session, user),
    )
    rows = {row.contact_id: row for row in board}
    on_list = {outreach.contact_id for outreach in outreaches}
    if settings is None:
        settings = TargetSettingsForm(obj=target)
    return render_template(
        "targets/detail.html",
        target=target,
        outreaches=outreaches,
        rows=rows,
        labels=STATE_LABELS,
        addable=addable_contacts(list_contacts(session, user), on_list),
        summary=target_summary(session, target),
        form=AddNamesForm(),
        settings=settings,
        rules_in_words=rules_in_words(target),
        held={held.contact_id: held for held in held_back(session, user, target.id, now())},
        ask_again_form=AskAgainForm(),
        phrase_form=phrase_form or FieldPhraseForm(field_phrase=target.field_phrase),
    )


@bp.get("/targets/<int:target_id>")
def detail(target_id: int) -> ResponseReturnValue:
    """The target's names in order, each with where it stands and what happens next.

    :raise 404: when the target is not the user's.
    """
    return _detail_page(get_target(get_session(), current_user(), target_id))


def _back_to(target: Target) -> ResponseReturnValue:
    return redirect(url_for("targets.detail", target_id=target.id))


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
        return _back_to(target)
    with attempt(session) as outcome:
        drafted = target_actions.add_names(
            session,
            user,
            target,
            in_list_order(form.contact_ids.data, list_contacts(session, user)),
            now(),
        )
    if outcome.refused:
        return _back_to(target)
    count = len(form.contact_ids.data)
    flash(
        f"{count} {'name' if count == 1 else 'names'} added.{drafted_sentence(drafted)}",
        "success",
    )
    flash_held_back(target, form.contact_ids.data)
    return _back_to(target)


@bp.post("/targets/<int:target_id>/names/<int:contact_id>/ask-again")
def ask_again(target_id: int, contact_id: int) -> ResponseReturnValue:
    """Ask a held-back person again on this list, deliberately; recorded on the timeline.

    :raise 404: when the target is not the user's or the person is not on it.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    if not AskAgainForm().validate_on_submit():
        flash("Tick “I have a good reason to ask them again” first; nothing changed.", "error")
        return _back_to(target)
    with attempt(session) as outcome:
        drafted = target_actions.ask_again(session, user, target, contact_id, now())
    if outcome.refused:
        return _back_to(target)
    name = next(
        (
            o.contact.name
            for o in outreaches_in_order(session, target)
            if o.contact_id == contact_id
        ),
        "them",
    )
    flash(f"Recorded: you chose to ask {name} again.{drafted_sentence(drafted)}", "success")
    return _back_to(target)


@bp.post("/targets/<int:target_id>/settings")
def save_settings(target_id: int) -> ResponseReturnValue:
    """Save how the cycle runs; a place freed by the change is filled at once.

    :raise 404: when the target is not the user's.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    form = TargetSettingsForm()
    if not form.validate_on_submit():
        flash("The settings were not saved: see the reasons by the fields.", "error")
        return _detail_page(target, form), 400
    with attempt(session) as outcome:
        drafted = target_actions.change_settings(
            session,
            user,
            target,
            now(),
            max_in_flight=form.max_in_flight.data,
            wait_business_days=form.wait_business_days.data,
            send_follow_up=form.send_follow_up.data,
            give_up_business_days=form.give_up_business_days.data,
            allow_same_organisation=form.allow_same_organisation.data,
        )
    if outcome.refused:
        return _detail_page(target, form), 400
    flash(f"Settings saved.{drafted_sentence(drafted)}", "success")
    return _back_to(target)


# Where the phrase form was sent from, and so where to go back to: never a URL from the form.
_BACK_TO = {"drafts": "drafts.index", "targets": "targets.index"}


@bp.post("/targets/<int:target_id>/field-phrase")
def save_field_phrase(target_id: int) -> ResponseReturnValue:
    """Confirm or change the words emails use for the field; open drafts follow.

    :raise 404: when the target is not the user's.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    form = FieldPhraseForm()
    back = _BACK_TO.get(request.form.get("back", ""))
    if not form.validate_on_submit():
        if back is None:
            return _detail_page(target, phrase_form=form), 400
        flash(" ".join(form.field_phrase.errors) or "Reload the page and try again.", "error")
        return redirect(url_for(back))
    with attempt(session) as outcome:
        result = set_field_phrase(session, user, target, form.field_phrase.data, now())
    if outcome.refused:
        return redirect(url_for(back)) if back else (_detail_page(target, phrase_form=form), 400)
    words = f"Emails to “{target.name}” now say “{result.phrase}”."
    if result.rewritten:
        words += f" {result.rewritten} draft{'s' if result.rewritten != 1 else ''} written again."
    if result.kept:
        words += (
            f" {result.kept} draft{'s' if result.kept != 1 else ''} you edited "
            "kept your text: check the phrase there."
        )
    flash(words, "success")
    return redirect(url_for(back)) if back else _back_to(target)


@bp.post("/targets/<int:target_id>/pause")
def pause(target_id: int) -> ResponseReturnValue:
    """:raise 404: when the target is not the user's."""
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    pause_target(session, user, target, now())
    session.commit()
    flash(
        f"“{target.name}” is paused: no new request or follow-up is drafted until you resume. "
        "Drafts already written stay in Drafts.",
        "success",
    )
    return _back_to(target)


@bp.post("/targets/<int:target_id>/resume")
def resume(target_id: int) -> ResponseReturnValue:
    """Resume; steps that fell due while paused are taken now.

    :raise 404: when the target is not the user's.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    drafted = target_actions.resume_target(session, user, target, now())
    session.commit()
    flash(f"“{target.name}” is running again.{drafted_sentence(drafted)}", "success")
    return _back_to(target)


def _wants_json() -> bool:
    """The drag-and-drop script asks for JSON; a plain form post gets a page."""
    return request.accept_mimetypes.best == "application/json"


@bp.post("/targets/<int:target_id>/names/<int:contact_id>/move")
def move(target_id: int, contact_id: int) -> ResponseReturnValue:
    """Put one name at `position` (1 is the top); the others close up.

    :raise 404: when the target is not the user's or the contact not on its list.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    form = MoveForm()
    problem = None
    if not form.validate_on_submit():
        problem = "Give the place on the list as a number."
    else:
        try:
            move_entry(session, user, target, contact_id, form.position.data)
        except ValidationError as error:
            session.rollback()
            problem = sentence(error)
    if problem is not None:
        if _wants_json():
            return jsonify(error=problem), 400
        flash(problem, "error")
        return _back_to(target)
    session.commit()
    listed = outreaches_in_order(session, target)
    order = [outreach.contact_id for outreach in listed]
    name = listed[order.index(contact_id)].contact.name
    message = f"{name} is now number {order.index(contact_id) + 1} on the list."
    if _wants_json():
        return jsonify(order=order, message=message)
    flash(message, "success")
    # Back to the name moved, so the keyboard's next Tab is on its arrows again.
    return redirect(url_for("targets.detail", target_id=target.id, _anchor=f"name-{contact_id}"))


@bp.post("/targets/<int:target_id>/names/<int:contact_id>/remove")
def remove(target_id: int, contact_id: int) -> ResponseReturnValue:
    """Take a name off the list (or stop it, when a request is out); the next name moves up.

    :raise 404: when the target is not the user's or the contact not on its list.
    """
    session = get_session()
    user = current_user()
    target = get_target(session, user, target_id)
    outreach = next(
        (o for o in outreaches_in_order(session, target) if o.contact_id == contact_id), None
    )
    name = outreach.contact.name if outreach is not None else "This person"
    was_planned = outreach is not None and outreach.state is OutreachState.PLANNED
    with attempt(session) as outcome:
        drafted = target_actions.remove_from_target(session, user, target, contact_id, now())
    if outcome.refused:
        return _back_to(target)
    if was_planned:
        words = f"{name} is off the list."
    else:
        words = f"{name} is stopped: nothing more goes to them from this list."
    words += drafted_sentence(drafted)
    flash(words, "success")
    return _back_to(target)
