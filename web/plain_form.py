"""The base of the dashboard's forms: no control characters in what is typed.

A text field's value may reach a mail header or an IMAP or SMTP command line
(names, addresses, subjects, a mailbox's user name and password). A CR, LF or
NUL there ends a header or a command early, so every single-line field refuses
every control character, and a multi-line one (a message, notes) all but line
breaks and tabs (outreach.rules.plain_text). The core checks again.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from outreach.rules.plain_text import control_character_problem
from web.helpers import sentence


class PlainTextForm(FlaskForm):  # type: ignore[misc]
    """A FlaskForm (CSRF included) whose text fields refuse control characters."""

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self:
            if not isinstance(field, StringField) or not isinstance(field.data, str):
                continue
            if isinstance(field, HiddenField):
                # Not typed by a person (the CSRF token, a "next" page): each view checks its own.
                continue
            problem = control_character_problem(
                str(field.label.text), field.data, multi_line=isinstance(field, TextAreaField)
            )
            if problem:
                field.errors = [*field.errors, sentence(problem)]
                valid = False
        return valid


def at_most(limit: int) -> Length:
    """A field's length limit, said plainly by the field (the core checks it again)."""
    return Length(max=limit, message=f"Keep it to {limit:,} characters or fewer.")
