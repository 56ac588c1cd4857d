"""The forms of the contact import: the upload, the column mapping, and the buttons."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional

from web.plain_form import PlainTextForm


class UploadForm(PlainTextForm):
    file = FileField(
        "CSV or vCard file",
        validators=[FileRequired("Choose a file to import.")],
        description="A spreadsheet saved as CSV (a LinkedIn connections export works as it is), "
        "or a .vcf file exported from Apple Contacts, Google Contacts or Outlook.",
    )


class ColumnsForm(PlainTextForm):
    """The mapping's select boxes are named column-0, column-1, ...: one per column of the file."""

    has_header = BooleanField("The first row names the columns")


class ImportActionForm(PlainTextForm):
    """Confirm, a step of the import, or cancel: only the CSRF token."""


# As long as a contact's "how you found them" given on the drafts page (rules.template_gaps).
HOW_FOUND_LENGTH = 300


class ImportConfirmForm(ImportActionForm):
    """Confirm, with the one answer for every row lacking "how you found them"."""

    how_found = StringField(
        "How did you find these people?",
        validators=[
            Optional(),
            Length(
                max=HOW_FOUND_LENGTH,
                message=f"Say how you found them in {HOW_FOUND_LENGTH} characters at most.",
            ),
        ],
    )
