"""The forms of the cohort pages: an adviser's new cohort, a student's join and consent."""

from __future__ import annotations

from wtforms import DateField, HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional

from outreach.cohorts import DEFAULT_GOAL, MAX_GOAL
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


class JoinForm(PlainTextForm):
    """The consent page's button: the code it agrees to, and only that."""

    code = HiddenField()


class CodeForm(PlainTextForm):
    """A code typed on the cohorts page; it only leads to the consent page (a GET)."""

    class Meta:
        csrf = False

    code = StringField("Join code", validators=[DataRequired("Type the code your adviser gave.")])
