"""The forms of the cohort pages: a new cohort, join and consent, a report and its comment."""

from __future__ import annotations

from wtforms import DateField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional

from outreach.cohort_reports import MAX_COMMENT
from outreach.cohorts import DEFAULT_GOAL, MAX_GOAL, MAX_QUESTION_LENGTH, MAX_QUESTIONS
from web.plain_form import PlainTextForm, at_most


class CohortForm(PlainTextForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Give the cohort a name."), at_most(200)],
        description="The course and term, as your students know it.",
    )
    goal = IntegerField(
        "Interviews each student holds",
        default=DEFAULT_GOAL,
        validators=[NumberRange(1, MAX_GOAL, f"A number from 1 to {MAX_GOAL}.")],
    )
    due = DateField("Due date", validators=[Optional()])
    questions = TextAreaField(
        "Questions for the report",
        validators=[at_most(MAX_QUESTIONS * (MAX_QUESTION_LENGTH + 1))],
        description=(
            f"One a line, {MAX_QUESTIONS} at most. Each student answers them when handing in "
            "a report, with their notes and reflection. You can change them until the due date."
        ),
    )


class QuestionsForm(PlainTextForm):
    questions = TextAreaField(
        "Questions for the report",
        validators=[at_most(MAX_QUESTIONS * (MAX_QUESTION_LENGTH + 1))],
        description=(
            "One a line. Reports handed in already keep the questions they answered; "
            "a student who hands in again answers these."
        ),
    )


class JoinForm(PlainTextForm):
    """The consent page's button: the code it agrees to, and only that."""

    code = HiddenField()


class CodeForm(PlainTextForm):
    """A code typed on the cohorts page; it only leads to the consent page (a GET)."""

    class Meta:
        csrf = False

    code = StringField("Join code", validators=[DataRequired("Type the code your adviser gave.")])


class SubmitReportForm(PlainTextForm):
    """The notes page's button: hand this meeting's report in to one cohort."""

    cohort_id = HiddenField()


class CommentForm(PlainTextForm):
    comment = TextAreaField(
        "Your comment",
        validators=[at_most(MAX_COMMENT)],
        description="The student sees it on this meeting's notes page. Leave empty to remove it.",
    )
