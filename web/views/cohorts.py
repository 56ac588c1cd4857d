"""Cohorts: an adviser's cohorts and their report; a student's join (after consent) and leave.

What the adviser sees comes only from outreach.cohorts.report_of: counts, states and dates,
never mail (docs/decisions/0024-cohorts-see-counts-never-mail.md).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from outreach import cohorts
from outreach.errors import NotFound, ValidationError
from outreach.models import Role, User
from web.attempt import attempt
from web.auth import current_user
from web.cohort_forms import CodeForm, CohortForm, JoinForm
from web.db import get_session
from web.forms import ActionForm
from web.helpers import now

bp = Blueprint("cohorts", __name__)

STUCK_WORDS = {
    cohorts.NO_MAILBOX: "no mailbox a week after joining",
    cohorts.DRAFTS_WAITING: "drafts waiting for approval over 3 days",
    cohorts.LIST_RAN_DRY: "a list whose names have all gone unanswered",
}


def _index(form: CohortForm | None = None) -> str:
    session = get_session()
    user = current_user()
    if user.role == Role.ADVISER:
        mine = cohorts.cohorts_of(session, user)
        counts = cohorts.student_counts(session, mine)
        return render_template(
            "cohorts/adviser.html",
            cohorts=mine,
            counts=counts,
            form=form or CohortForm(formdata=None),
        )
    return render_template(
        "cohorts/student.html",
        cohorts=cohorts.student_cohorts(session, user),
        code_form=CodeForm(formdata=None),
        leave_form=ActionForm(formdata=None),
    )


@bp.get("/cohorts")
def index() -> ResponseReturnValue:
    return _index()


@bp.post("/cohorts")
def create() -> ResponseReturnValue:
    form = CohortForm()
    if not form.validate_on_submit():
        flash("The cohort was not created: see the reasons by the fields.", "error")
        return _index(form), 400
    session = get_session()
    with attempt(session) as outcome:
        made = cohorts.create_cohort(
            session, current_user(), form.name.data, goal=form.goal.data, due=form.due.data
        )
    if outcome.refused:
        return _index(form), 400
    flash(f"The cohort {made.name} is ready. Give your students its code, {made.code}.", "success")
    return redirect(url_for("cohorts.report", cohort_id=made.id))


@bp.get("/cohorts/<int:cohort_id>")
def report(cohort_id: int) -> ResponseReturnValue:
    session = get_session()
    try:
        cohort = cohorts.adviser_cohort_by_id(session, current_user(), cohort_id)
    except (NotFound, ValidationError):
        abort(404)
    return render_template(
        "cohorts/report.html",
        report=cohorts.report_of(session, cohort, now()),
        join_link=url_for("cohorts.consent", code=cohort.code, _external=True),
        stuck_words=STUCK_WORDS,
    )


@bp.get("/cohorts/<int:cohort_id>/export.csv")
def export(cohort_id: int) -> ResponseReturnValue:
    """The report as CSV, for the course's own records. :raise 404: when not the adviser's."""
    session = get_session()
    try:
        cohort = cohorts.adviser_cohort_by_id(session, current_user(), cohort_id)
    except (NotFound, ValidationError):
        abort(404)
    text = cohorts.report_csv(cohorts.report_of(session, cohort, now()))
    return Response(
        # A byte-order mark, so spreadsheets on Windows read the accents right.
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="cohort-{cohort.id}.csv"'},
    )


@bp.get("/cohorts/join")
def consent() -> ResponseReturnValue:
    """What joining shares, said in full before the student agrees (the link's page)."""
    session = get_session()
    code = request.args.get("code", "")
    try:
        cohort = cohorts.cohort_by_code(session, code)
    except NotFound as error:
        flash(str(error).capitalize() + ".", "error")
        return redirect(url_for("cohorts.index"))
    return render_template(
        "cohorts/consent.html",
        cohort=cohort,
        adviser=session.get_one(User, cohort.adviser_id),
        lines=cohorts.CONSENT_LINES,
        never=cohorts.CONSENT_NEVER,
        form=JoinForm(formdata=None, code=cohort.code),
    )


@bp.post("/cohorts/join")
def join() -> ResponseReturnValue:
    form = JoinForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    try:
        with attempt(session) as outcome:
            cohort = cohorts.join_cohort(session, current_user(), form.code.data or "", now())
    except NotFound:
        abort(404)
    if not outcome.refused:
        flash(f"You joined {cohort.name}. You can leave at any time here.", "success")
    return redirect(url_for("cohorts.index"))


@bp.post("/cohorts/<int:cohort_id>/leave")
def leave(cohort_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    try:
        cohort = cohorts.leave_cohort_by_id(session, current_user(), cohort_id)
    except NotFound:
        abort(404)
    session.commit()
    flash(f"You left {cohort.name}. Its adviser no longer sees your progress.", "success")
    return redirect(url_for("cohorts.index"))
