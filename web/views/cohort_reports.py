"""Reports handed in to a cohort: the student submits from a held meeting's notes page;
the adviser reads each on a printable page and comments, and the student sees the comment.

What the adviser reads is outreach.cohort_reports' snapshot only: the student's notes and
reflection, the contact's organisation and role, never the contact's name or address.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from outreach import cohort_reports, cohorts
from outreach.errors import NotFound, ValidationError
from outreach.meetings.finding import get_meeting
from outreach.models import Cohort, Contact, Meeting, MeetingStatus, Role, SubmittedReport
from web.attempt import attempt
from web.auth import current_user
from web.cohort_forms import CommentForm, SubmitReportForm
from web.db import get_session
from web.helpers import now

bp = Blueprint("cohort_reports", __name__)


@dataclass(frozen=True)
class ReportChoice:
    """One of the student's cohorts on a meeting's notes page, with what was handed in."""

    cohort: Cohort
    report: SubmittedReport | None
    # The due date has passed and a report is in: it can no longer be replaced.
    closed: bool
    # The cohort's own questions: the report is handed in from their form.
    questions: list[str]


@bp.app_template_global()
def report_choices(meeting: Meeting) -> list[ReportChoice]:
    """The student's cohorts for this meeting's notes page (none for an adviser)."""
    user = current_user()
    if user.role != Role.STUDENT or meeting.user_id != user.id:
        return []
    session = get_session()
    handed_in = {
        found.cohort.id: found.report
        for found in cohort_reports.reports_on_meeting(session, user, meeting.id)
    }
    today = now().date()
    return [
        ReportChoice(
            cohort=cohort,
            report=handed_in.get(cohort.id),
            closed=cohort.id in handed_in and cohort.due is not None and today > cohort.due,
            questions=cohorts.questions_of(cohort),
        )
        for cohort in cohorts.student_cohorts(session, user)
    ]


@bp.app_template_global()
def can_report(meeting: Meeting) -> bool:
    return meeting.status is MeetingStatus.HELD


def _member_cohort(cohort_id: int) -> Cohort:
    """One of the signed-in student's cohorts. :raise 404: for any other."""
    for cohort in cohorts.student_cohorts(get_session(), current_user()):
        if cohort.id == cohort_id:
            return cohort
    abort(404)


def _answer_page(
    meeting: Meeting, cohort: Cohort, answers: list[str], status: int = 200
) -> ResponseReturnValue:
    session = get_session()
    handed_in = {
        found.cohort.id: found.report
        for found in cohort_reports.reports_on_meeting(session, current_user(), meeting.id)
    }
    return (
        render_template(
            "cohorts/answer.html",
            meeting=meeting,
            contact=session.get_one(Contact, meeting.contact_id),
            cohort=cohort,
            report=handed_in.get(cohort.id),
            questions=list(zip(cohorts.questions_of(cohort), answers, strict=True)),
            max_answer=cohort_reports.MAX_ANSWER,
        ),
        status,
    )


@bp.get("/meetings/<int:meeting_id>/report/<int:cohort_id>")
def answer(meeting_id: int, cohort_id: int) -> ResponseReturnValue:
    """The report form for one cohort: its questions, answered, then handed in.

    :raise 404: when the meeting is not the student's or they are not in the cohort.
    """
    try:
        meeting = get_meeting(get_session(), current_user(), meeting_id)
    except NotFound:
        abort(404)
    cohort = _member_cohort(cohort_id)
    handed_in = cohort_reports.reports_on_meeting(get_session(), current_user(), meeting_id)
    previous = next((found.report for found in handed_in if found.cohort.id == cohort.id), None)
    return _answer_page(meeting, cohort, cohort_reports.last_answers(previous, cohort))


def _posted_answers() -> list[tuple[str, str]]:
    """The questions the form showed, each with what was typed under it."""
    posted = []
    for index in range(cohorts.MAX_QUESTIONS):
        question = request.form.get(f"question_{index}")
        if question is None:
            break
        posted.append((question, request.form.get(f"answer_{index}", "")))
    return posted


@bp.post("/meetings/<int:meeting_id>/report")
def submit(meeting_id: int) -> ResponseReturnValue:
    """:raise 404: when the meeting is not the student's or they are not in the cohort."""
    session = get_session()
    try:
        # Another's meeting is not found, whatever the form says (never a 400 that tells).
        meeting = get_meeting(session, current_user(), meeting_id)
    except NotFound:
        abort(404)
    form = SubmitReportForm()
    if not form.validate_on_submit() or not (form.cohort_id.data or "").isdigit():
        abort(400)
    answers = _posted_answers()
    try:
        with attempt(session) as outcome:
            report = cohort_reports.submit_report(
                session, current_user(), meeting_id, int(form.cohort_id.data), now(), answers
            )
    except NotFound:
        abort(404)
    if outcome.refused:
        cohort = _member_cohort(int(form.cohort_id.data))
        asked = cohorts.questions_of(cohort)
        if asked:
            typed = dict(answers)
            return _answer_page(meeting, cohort, [typed.get(q, "") for q in asked], 400)
    else:
        cohort = session.get_one(Cohort, report.cohort_id)
        late = " It was handed in after the due date and is marked late." if report.late else ""
        flash(f"Your report is in: {cohort.name}'s adviser can read it now.{late}", "success")
    return redirect(url_for("meetings.notes", meeting_id=meeting_id, _anchor="cohort-reports"))


def _report_page(cohort_id: int, report_id: int, form: CommentForm | None = None) -> str:
    try:
        found = cohort_reports.adviser_report(get_session(), current_user(), cohort_id, report_id)
    except (NotFound, ValidationError):
        abort(404)
    cohort = get_session().get_one(Cohort, cohort_id)
    return render_template(
        "cohorts/submitted_report.html",
        cohort=cohort,
        found=found,
        form=form or CommentForm(formdata=None, comment=found.report.comment),
    )


@bp.get("/cohorts/<int:cohort_id>/reports/<int:report_id>")
def show(cohort_id: int, report_id: int) -> ResponseReturnValue:
    """One report on a printable page. :raise 404: unless the adviser's own cohort's."""
    return _report_page(cohort_id, report_id)


@bp.post("/cohorts/<int:cohort_id>/reports/<int:report_id>/comment")
def comment(cohort_id: int, report_id: int) -> ResponseReturnValue:
    form = CommentForm()
    if not form.validate_on_submit():
        return _report_page(cohort_id, report_id, form), 400
    session = get_session()
    try:
        with attempt(session) as outcome:
            cohort_reports.comment_on(
                session, current_user(), cohort_id, report_id, form.comment.data or "", now()
            )
    except (NotFound, ValidationError):
        abort(404)
    if outcome.refused:
        return _report_page(cohort_id, report_id, form), 400
    flash("Your comment is saved; the student sees it with their notes.", "success")
    return redirect(url_for("cohort_reports.show", cohort_id=cohort_id, report_id=report_id))


@bp.get("/cohorts/<int:cohort_id>/reports/print")
def print_all(cohort_id: int) -> ResponseReturnValue:
    """Every report of the cohort on one printable page, each interview on a page of its
    own on paper. :raise 404: unless the adviser's own cohort."""
    session = get_session()
    try:
        cohort = cohorts.adviser_cohort_by_id(session, current_user(), cohort_id)
    except (NotFound, ValidationError):
        abort(404)
    return render_template(
        "cohorts/print_reports.html",
        cohort=cohort,
        reports=cohort_reports.cohort_reports(session, cohort),
    )
