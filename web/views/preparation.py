"""A meeting's preparation page and its one-page printable brief.

The page is one form: every button (save, add, move up or down, remove, put
back) saves what was typed and ticked, then does its own step, so nothing is
lost and nothing needs JavaScript. Dragging (web/static/prepare.js) only fills
in the order field before a save.

Every route loads the meeting through the core with the signed-in user, so
another user's meeting is a 404 like a missing one.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach import meetings
from outreach.meetings import PreparationChange, Step
from outreach.meetings.times import ends_at, when_in_words
from outreach.models import Meeting, User
from web.attempt import attempt
from web.auth import current_user
from web.db import get_session
from web.meeting_forms import PreparationForm

bp = Blueprint("preparation", __name__)


def _form(meeting: Meeting) -> PreparationForm:
    form = PreparationForm()
    if not form.is_submitted():
        form.purpose.data = meeting.purpose
        form.research_person.data = meeting.research_person
        form.research_organisation.data = meeting.research_organisation
    return form


def _their_time(meeting: Meeting, user: User) -> str:
    return meetings.their_time(meeting, meeting.contact, user.time_zone)


def _page(meeting_id: int, form: PreparationForm | None = None) -> str:
    user = current_user()
    prepared = meetings.preparation_of(get_session(), user, meeting_id)
    return render_template(
        "meetings/prepare.html",
        prepared=prepared,
        meeting=prepared.meeting,
        contact=prepared.contact,
        form=form or _form(prepared.meeting),
        time_zone=user.time_zone,
        ends=ends_at(prepared.meeting),
        their_time=_their_time(prepared.meeting, user),
    )


@bp.get("/meetings/<int:meeting_id>/prepare")
def prepare(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the user's."""
    return _page(meeting_id)


def _step(pressed: str) -> tuple[Step | None, str]:
    """The button pressed, "up:<question id>" and the like; "save" (or Enter) is no step."""
    name, _, question_id = pressed.partition(":")
    return (Step(name), question_id) if name in set(Step) else (None, "")


@bp.post("/meetings/<int:meeting_id>/prepare")
def prepare_submit(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the user's."""
    session = get_session()
    user = current_user()
    meeting = meetings.get_meeting(session, user, meeting_id)
    form = PreparationForm()
    if not form.validate_on_submit():
        return _page(meeting.id, form), 400
    step, question_id = _step(request.form.get("do", "save"))
    change = PreparationChange(
        purpose=form.purpose.data or "",
        research_person=form.research_person.data or "",
        research_organisation=form.research_organisation.data or "",
        ticked=frozenset(request.form.getlist("ticked")),
        new_question=form.new_question.data or "",
        order=tuple(item for item in request.form.get("order", "").split(",") if item),
        step=step,
        step_question=question_id,
    )
    with attempt(session) as outcome:
        meetings.save_preparation(session, user, meeting.id, change)
    if outcome.refused:
        return _page(meeting.id, form), 400
    if step in (Step.UP, Step.DOWN):
        # Back to the question moved, so a second press is where the thumb is.
        anchor = f"q-{question_id}"
    elif step is not None or change.new_question.strip():
        anchor = "questions"
    else:
        flash("Preparation saved.", "success")
        anchor = ""
    return redirect(url_for("preparation.prepare", meeting_id=meeting.id, _anchor=anchor or None))


@bp.get("/meetings/<int:meeting_id>/prepare/print")
def brief(meeting_id: int) -> ResponseReturnValue:
    """The preparation on one printed page. :raise 404: when the meeting is not the user's."""
    user = current_user()
    prepared = meetings.preparation_of(get_session(), user, meeting_id)
    return render_template(
        "meetings/brief.html",
        prepared=prepared,
        meeting=prepared.meeting,
        contact=prepared.contact,
        time_zone=user.time_zone,
        ends=ends_at(prepared.meeting),
        when=when_in_words(prepared.meeting.starts_at, user.time_zone),
        their_time=_their_time(prepared.meeting, user),
    )
