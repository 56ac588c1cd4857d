"""The composer's form: the user's answer, and perhaps a time to propose."""

from __future__ import annotations

from datetime import datetime

from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import Length

from outreach.replying import MAX_TEXT
from web.plain_form import PlainTextForm

NO_TIME = ""


class AnswerForm(PlainTextForm):
    body = TextAreaField(
        "Your answer",
        validators=[Length(max=MAX_TEXT, message=f"Keep it to {MAX_TEXT:,} characters or fewer.")],
        description="Their reply is quoted below your text when it is sent.",
    )
    # The choices are the free times offered now; a value is a UTC moment in ISO form.
    slot = RadioField("Propose a time to talk", choices=[], validate_choice=False, default=NO_TIME)
    # Set by the page's script once it wrote the time into the text: the user may have
    # reworded it since, so the server does not add it a second time.
    time_in_text = HiddenField(default="")

    def chosen_slot(self) -> datetime | None:
        """The time chosen, or None; a value that is not a moment reads as none chosen."""
        if not self.slot.data:
            return None
        try:
            moment = datetime.fromisoformat(self.slot.data)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
