"""The forms of the admin page: a new invitation, and an account's role."""

from __future__ import annotations

from wtforms import IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, NumberRange

from outreach.models import Role
from outreach.roles import ASSIGNABLE_ROLES
from outreach.rules.plain_text import MAX_ADDRESS
from outreach.signup import DEFAULT_INVITE_DAYS, INVITABLE_ROLES, MAX_INVITE_DAYS
from web.plain_form import PlainTextForm, at_most

ROLE_WORDS = {
    Role.STUDENT: "Student",
    Role.ADVISER: "Adviser (runs cohorts)",
}


class InviteForm(PlainTextForm):
    email = StringField(
        "Email address",
        validators=[DataRequired("Give the address the account is for."), at_most(MAX_ADDRESS)],
        description="The account is made for this address only; the person cannot choose another.",
    )
    role = SelectField(
        "Role",
        choices=[SelectChoice(role.value, ROLE_WORDS[role]) for role in INVITABLE_ROLES],
        default=Role.STUDENT.value,
    )
    days = IntegerField(
        "Days the link works",
        default=DEFAULT_INVITE_DAYS,
        validators=[
            NumberRange(1, MAX_INVITE_DAYS, f"A number of days from 1 to {MAX_INVITE_DAYS}.")
        ],
    )


class RoleForm(PlainTextForm):
    role = SelectField(
        "Role",
        choices=[SelectChoice(role.value, role.value.capitalize()) for role in ASSIGNABLE_ROLES],
    )
