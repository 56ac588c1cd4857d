"""Answering a person's reply: the composer, in their thread, offering the user's free times.

The reply quoted is a stranger's text: the template shows it escaped, as text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectChoice

from outreach.errors import ValidationError
from outreach.models import User
from outreach.replying import Composer, answered_drafts, composer, draft_answer
from outreach.rules.cycle import zone_of
from outreach.rules.free_times import slot_in_words, slot_sentence
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.helpers import now, sentence
from web.reply_forms import NO_TIME, AnswerForm

bp = Blueprint("replies", __name__)


def _their_time(moment: datetime, time_zone: str, mine: str) -> str:
    """ "15:00 on Tuesday for them", when their zone is known and differs from `mine`."""
    if not time_zone or zone_of(time_zone).key == zone_of(mine).key:
        return ""
    here = moment.astimezone(zone_of(time_zone))
    return f"{here:%H:%M} on {here:%A} for them"


def _offer(form: AnswerForm, start: Composer, user: User) -> None:
    form.slot.choices = [SelectChoice(NO_TIME, "No time in this answer")] + [
        SelectChoice(slot.astimezone(UTC).isoformat(), slot_in_words(slot, user.time_zone))
        for slot in start.slots
    ]


def _page(form: AnswerForm, start: Composer, user: User) -> str:
    mine = user.time_zone or "UTC"
    return render_template(
        "replies/compose.html",
        form=form,
        start=start,
        time_zone=mine,
        sentences={
            slot.astimezone(UTC).isoformat(): slot_sentence(slot, mine, start.contact.time_zone, 30)
            for slot in start.slots
        },
        their_times={
            slot.astimezone(UTC).isoformat(): _their_time(slot, start.contact.time_zone, mine)
            for slot in start.slots
        },
        waiting=answered_drafts(get_session(), start.outreach.id),
        their_zone=start.contact.time_zone
        if start.contact.time_zone and zone_of(start.contact.time_zone).key != zone_of(mine).key
        else "",
    )


def _start(outreach_id: int) -> Composer | None:
    """What the composer starts from; None (with a message) when there is nothing to answer.

    :raise 404: when the outreach is not the user's.
    """
    try:
        return composer(get_session(), current_user(), outreach_id, now())
    except ValidationError as problem:
        flash(sentence(problem), "error")
        return None


@bp.get("/outreaches/<int:outreach_id>/reply")
def compose(outreach_id: int) -> ResponseReturnValue:
    start = _start(outreach_id)
    if start is None:
        return redirect(url_for("board.index"))
    form = AnswerForm(formdata=None)
    _offer(form, start, current_user())
    return _page(form, start, current_user())


@bp.post("/outreaches/<int:outreach_id>/reply")
def save(outreach_id: int) -> ResponseReturnValue:
    start = _start(outreach_id)
    if start is None:
        return redirect(url_for("board.index"))
    user = current_user()
    form = AnswerForm()
    _offer(form, start, user)
    if not form.validate_on_submit():
        flash("Your answer was not saved: see the reasons by the fields.", "error")
        return _page(form, start, user), 400
    session = get_session()
    with attempt(session) as outcome:
        answer = draft_answer(
            session,
            user,
            outreach_id,
            form.body.data or "",
            form.chosen_slot(),
            now(),
            time_in_text=form.time_in_text.data == "1",
        )
    if outcome.refused:
        return _page(form, start, user), 400
    said = f"Your answer to {start.contact.name} waits in Drafts for your approval."
    if answer.meeting is not None:
        said += (
            f" The time you proposed, {slot_in_words(answer.meeting.starts_at, user.time_zone)},"
            " is on the Meetings page: mark it agreed when they say yes."
        )
    flash(said, "success")
    return redirect(url_for("drafts.index") + f"#draft-{answer.draft.id}")
