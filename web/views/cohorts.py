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

from outreach import cohort_figures, cohort_reports, cohorts
from outreach.errors import NotFound, ValidationError
from outreach.models import Role, User
from outreach.sandbox.demo_cohort import DEMO_COHORT_NAME, demo_cohort_of
from web.attempt import attempt
from web.auth import current_user
from web.cohort_forms import CodeForm, CohortForm, JoinForm, QuestionsForm
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
            demo_cohort=demo_cohort_of(session, user),
            demo_name=DEMO_COHORT_NAME,
            action_form=ActionForm(formdata=None),
        )
    return render_template(
        "cohorts/student.html",
        cohorts=cohorts.student_cohorts(session, user),
        reports=cohort_reports.reports_of_student(session, user),
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
            session,
            current_user(),
            form.name.data,
            goal=form.goal.data,
            due=form.due.data,
            questions=form.questions.data or "",
        )
    if outcome.refused:
        return _index(form), 400
    flash(f"The cohort {made.name} is ready. Give your students its code, {made.code}.", "success")
    return redirect(url_for("cohorts.report", cohort_id=made.id))


def _report_page(cohort_id: int, questions_form: QuestionsForm | None = None) -> str:
    session = get_session()
    adviser = current_user()
    try:
        cohort = cohorts.adviser_cohort_by_id(session, adviser, cohort_id)
    except (NotFound, ValidationError):
        abort(404)
    moment = now()
    found = cohorts.report_of(session, cohort, moment)
    return render_template(
        "cohorts/report.html",
        report=found,
        funnel=cohort_figures.cohort_funnel(found),
        weeks=cohort_figures.cohort_weeks(session, cohort, moment, adviser.time_zone),
        is_demo=demo_cohort_of(session, adviser) is cohort,
        action_form=ActionForm(formdata=None),
        reports=cohort_reports.cohort_reports(session, cohort),
        join_link=url_for("cohorts.consent", code=cohort.code, _external=True),
        stuck_words=STUCK_WORDS,
        questions=cohorts.questions_of(cohort),
        questions_open=cohort.due is None or now().date() <= cohort.due,
        questions_form=questions_form
        or QuestionsForm(formdata=None, questions="\n".join(cohorts.questions_of(cohort))),
    )


@bp.get("/cohorts/<int:cohort_id>")
def report(cohort_id: int) -> ResponseReturnValue:
    return _report_page(cohort_id)


@bp.post("/cohorts/<int:cohort_id>/questions")
def questions(cohort_id: int) -> ResponseReturnValue:
    """Change the report's questions, until the due date. :raise 404: unless the adviser's."""
    session = get_session()
    try:
        cohorts.adviser_cohort_by_id(session, current_user(), cohort_id)
    except (NotFound, ValidationError):
        abort(404)
    form = QuestionsForm()
    if not form.validate_on_submit():
        return _report_page(cohort_id, form), 400
    with attempt(session) as outcome:
        cohorts.set_questions(session, current_user(), cohort_id, form.questions.data or "", now())
    if outcome.refused:
        return _report_page(cohort_id, form), 400
    flash("The report's questions are saved. Reports handed in from now on answer them.", "success")
    return redirect(url_for("cohorts.report", cohort_id=cohort_id, _anchor="report-questions"))


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
