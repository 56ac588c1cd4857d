"""The approvals queue: read each draft as it will be sent, edit, approve or discard.

Approval is committed before the send job is queued. If Redis is down the
approval stands; the message waits in the database until a worker queues it.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from outreach.accounts import mailboxes_of, primary_mailbox, sender_among
from outreach.approving import BatchApproval, approve_all
from outreach.board import pending_draft_count
from outreach.draft_values import (
    gaps_in,
    questions_for,
    refill,
    supply_values,
    values_given_into_edits,
)
from outreach.drafts import REFILLABLE, approve, edit_draft, get_message, list_drafts
from outreach.errors import ConfigurationError, ValidationError
from outreach.field_phrases import unconfirmed_by_message
from outreach.models import Message, MessageKind, MessageStatus
from outreach.target_actions import discard
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.forms import ActionForm, ApproveSelectionForm, DraftForm
from web.helpers import now, sentence
from web.paging import make_pager, page_number
from web.progress import going_out_count
from web.state import services
from web.views.targets import drafted_sentence
from workers.queues import enqueue_send

bp = Blueprint("drafts", __name__)

KIND_LABELS: dict[MessageKind, str] = {
    MessageKind.REQUEST: "Request",
    MessageKind.FOLLOW_UP: "Follow-up",
    MessageKind.CONFIRMATION: "Meeting confirmation",
    MessageKind.THANK_YOU: "Thank-you",
    MessageKind.KEEP_IN_TOUCH: "Keeping in touch",
    MessageKind.ANSWER: "Your reply",
}
EDITABLE = frozenset({MessageStatus.DRAFT, MessageStatus.APPROVED})
QUEUE_DOWN = (
    "Approved. The sending queue cannot be reached right now, so sending will start "
    "when the worker is back; nothing is lost."
)


def queue_for_sending(messages: Sequence[Message]) -> bool:
    """Ask a worker to send each approved message; False when the queue is unreachable.

    Called after the approval is committed: a Redis failure must never undo it.
    """
    try:
        connection = services().redis()
        for message in messages:
            enqueue_send(connection, message.id)
    except (RedisError, ConfigurationError) as error:
        current_app.logger.warning(
            "approved messages %s not queued: %s", [message.id for message in messages], error
        )
        return False
    return True


# Drafts on one page: each is shown in full, so a long queue is read page by page.
DRAFTS_PER_PAGE = 25


@bp.get("/drafts")
def index() -> ResponseReturnValue:
    session = get_session()
    user = current_user()
    requested = page_number(request.args.get("page"))
    pager = make_pager(requested, pending_draft_count(session, user), DRAFTS_PER_PAGE)
    drafts = list_drafts(session, user, limit=pager.per_page, offset=pager.offset)
    mailboxes = mailboxes_of(session, user)
    return render_template(
        "drafts/index.html",
        drafts=drafts,
        questions={message.id: questions_for(message) for message in drafts},
        gaps={message.id: gaps_in(message) for message in drafts},
        kept_edits=values_given_into_edits(session, [message.id for message in drafts]),
        phrase_checks=unconfirmed_by_message(session, [message.id for message in drafts]),
        refillable=REFILLABLE,
        pager=pager,
        mailbox=primary_mailbox(session, user),
        # Each draft's own sender: a sandbox person's from the sandbox, a real one's not.
        senders={message.id: sender_among(mailboxes, message.to_address) for message in drafts},
        kinds=KIND_LABELS,
        form=ApproveSelectionForm(),
        going_out=going_out_count(session, user),
    )


def _edit_page(message: Message, form: DraftForm) -> str:
    return render_template(
        "drafts/edit.html",
        message=message,
        form=form,
        editable=message.status in EDITABLE,
        kinds=KIND_LABELS,
    )


@bp.get("/drafts/<int:message_id>")
def edit(message_id: int) -> ResponseReturnValue:
    """:raise 404: when the message is not the user's."""
    message = get_message(get_session(), current_user(), message_id)
    form = DraftForm(subject=message.subject, body=message.body_text)
    return _edit_page(message, form)


@bp.post("/drafts/<int:message_id>")
def edit_submit(message_id: int) -> ResponseReturnValue:
    """:raise 404: when the message is not the user's."""
    session = get_session()
    user = current_user()
    message = get_message(session, user, message_id)
    form = DraftForm()
    if not form.validate_on_submit():
        return _edit_page(message, form), 400
    with attempt(session) as outcome:
        message = edit_draft(session, user, message.id, form.subject.data, form.body.data, now())
    if outcome.refused:
        return _edit_page(message, form), 400
    if message.error:
        flash(f"Saved, but it cannot be approved yet: {message.error}.", "warning")
    else:
        flash("Draft saved.", "success")
    return redirect(url_for("drafts.index", _anchor=f"draft-{message.id}"))


@bp.post("/drafts/<int:message_id>/approve")
def approve_one(message_id: int) -> ResponseReturnValue:
    """Approve, commit, then queue the send.

    :raise 404: when the message is not the user's.
    """
    session = get_session()
    with attempt(session) as outcome:
        message = approve(session, current_user(), message_id, now())
    if outcome.refused:
        return redirect(url_for("drafts.index"))
    if queue_for_sending([message]):
        flash(f"Approved. The message to {message.to_address} is on its way.", "success")
    else:
        flash(QUEUE_DOWN, "warning")
    return redirect(url_for("drafts.index"))


@bp.post("/drafts/approve")
def approve_selected() -> ResponseReturnValue:
    """Approve every ticked draft that can be; say which could not and why.

    :raise 404: when one of the ids is not the user's (nothing is approved then).
    """
    session = get_session()
    user = current_user()
    form = ApproveSelectionForm()
    ids = list(dict.fromkeys(form.message_ids.data or [])) if form.validate_on_submit() else []
    if not ids:
        flash("Tick the drafts to approve first.", "error")
        return redirect(url_for("drafts.index"))
    approved: list[Message] = []
    for message_id in ids:
        try:
            approved.append(approve(session, user, message_id, now()))
        except ValidationError as error:
            # approve() checks everything before it changes anything, so a
            # refusal leaves nothing half-done to roll back.
            flash(sentence(error), "error")
    session.commit()
    if approved:
        if queue_for_sending(approved):
            count = len(approved)
            noun = "message" if count == 1 else "messages"
            flash(f"{count} {noun} approved for sending.", "success")
        else:
            flash(QUEUE_DOWN, "warning")
    return redirect(url_for("drafts.index"))


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _say_batch(outcome: BatchApproval) -> None:
    """One message for what was approved, one for each reason drafts were skipped."""
    if outcome.approved:
        if queue_for_sending(outcome.approved):
            count = len(outcome.approved)
            noun = "message" if count == 1 else "messages"
            flash(f"{count} {noun} approved for sending.", "success")
        else:
            flash(QUEUE_DOWN, "warning")
    if outcome.blocked:
        count = len(outcome.blocked)
        drafts = "1 draft was" if count == 1 else f"{count} drafts were"
        flash(
            f"{drafts} skipped: {'it' if count == 1 else 'they'} still "
            f"need{'s' if count == 1 else ''} {_listed(outcome.missing_words())}. "
            "Fill that in on each draft below, then approve.",
            "warning",
        )
    if outcome.no_longer_drafts:
        count = outcome.no_longer_drafts
        drafts = "1 draft was" if count == 1 else f"{count} drafts were"
        flash(f"{drafts} skipped: already approved or discarded since the page was shown.", "info")
    for problem in dict.fromkeys(outcome.refused):
        flash(f"Skipped: {sentence(problem)}", "error")


@bp.post("/drafts/approve-all")
def approve_all_shown() -> ResponseReturnValue:
    """Approve every draft the page showed that can go; say how many were skipped and why.

    :raise 404: when one of the ids is not the user's (nothing is approved then).
    """
    session = get_session()
    form = ApproveSelectionForm()
    ids = list(form.message_ids.data or []) if form.validate_on_submit() else []
    if not ids:
        flash("This form was out of date; nothing was approved. Please try again.", "error")
        return redirect(url_for("drafts.index"))
    outcome = approve_all(session, current_user(), ids, now())
    session.commit()
    _say_batch(outcome)
    return redirect(url_for("drafts.index"))


@bp.post("/drafts/<int:message_id>/discard")
def discard_one(message_id: int) -> ResponseReturnValue:
    """Discard a draft; a discarded request frees its place, so the next name is drafted.

    :raise 404: when the message is not the user's.
    """
    session = get_session()
    user = current_user()
    with attempt(session) as outcome:
        drafted = discard(session, user, message_id, now())
    if outcome.refused:
        return redirect(url_for("drafts.index"))
    flash(f"Draft discarded.{drafted_sentence(drafted)}", "info")
    return redirect(url_for("drafts.index"))


@bp.post("/drafts/<int:message_id>/values")
def give_values(message_id: int) -> ResponseReturnValue:
    """Save the values a draft asked for on its contact, and write the draft again.

    :raise 404: when the message is not the user's.
    """
    session = get_session()
    user = current_user()
    back = redirect(url_for("drafts.index", _anchor=f"draft-{message_id}"))
    if not ActionForm().validate_on_submit():
        flash("This form was out of date; nothing was saved. Please try again.", "error")
        return back
    with attempt(session) as outcome:
        asked = questions_for(get_message(session, user, message_id))
        supplied = supply_values(session, user, message_id, request.form.to_dict(), now())
    if outcome.refused:
        return back
    message = supplied.message
    who = message.contact.name if message.contact else "the contact"
    if not any(question.on_contact for question in asked):
        flash(
            "Your news is in the draft: read it and approve."
            if not message.error
            else sentence(message.error),
            "success" if not message.error else "warning",
        )
    elif supplied.kept_edits:
        flash(
            f"Saved on {who}'s details. You had edited this draft, so your own text was kept, "
            "with the answer put in its place. To start again from the template instead, "
            "press “Write it again from the template”.",
            "info",
        )
    elif message.error:
        flash(f"Saved on {who}'s details. {sentence(message.error)}", "warning")
    else:
        flash(
            f"Saved on {who}'s details, and the draft is filled in: read it and approve.", "success"
        )
    return back


@bp.post("/drafts/<int:message_id>/refill")
def refill_one(message_id: int) -> ResponseReturnValue:
    """Write the draft again from its template; the user's own edits to it are replaced.

    :raise 404: when the message is not the user's.
    """
    session = get_session()
    if not ActionForm().validate_on_submit():
        flash("This form was out of date; nothing was changed. Please try again.", "error")
        return redirect(url_for("drafts.index"))
    with attempt(session) as outcome:
        message = refill(session, current_user(), message_id, now())
    if not outcome.refused:
        if message.error:
            flash(f"Written again from the template. {sentence(message.error)}", "warning")
        else:
            flash("Written again from the template.", "success")
    return redirect(url_for("drafts.index", _anchor=f"draft-{message_id}"))
