"""The forms of the contact import: the upload, the column mapping, and the buttons."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

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
