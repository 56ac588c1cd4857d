"""Connect the user's own mailbox, and test that both of its servers let us in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts import MailboxSettings, connect_mailbox, get_mailbox, list_mailboxes
from outreach.connection_check import check_mailbox
from outreach.errors import ValidationError
from outreach.mail.tls import client_context
from outreach.models import TlsMode
from web.auth import current_user
from web.db import get_session
from web.forms import MailboxForm
from web.helpers import sentence
from web.state import services

bp = Blueprint("mailboxes", __name__)

# Settings of the big providers, shown beside the form (IMAP host, SMTP host).
PRESETS = [
    ("Gmail", "imap.gmail.com", "smtp.gmail.com"),
    ("Outlook / Microsoft 365", "outlook.office365.com", "smtp.office365.com"),
    ("iCloud Mail", "imap.mail.me.com", "smtp.mail.me.com"),
    ("Yahoo Mail", "imap.mail.yahoo.com", "smtp.mail.yahoo.com"),
    ("Fastmail", "imap.fastmail.com", "smtp.fastmail.com"),
]


def _page(form: MailboxForm) -> str:
    mailboxes = list_mailboxes(get_session(), current_user())
    return render_template("mailboxes/index.html", form=form, mailboxes=mailboxes, presets=PRESETS)


@bp.get("/mailbox")
def index() -> ResponseReturnValue:
    user = current_user()
    return _page(MailboxForm(email_address=user.email, display_name=user.name))


@bp.post("/mailbox")
def connect() -> ResponseReturnValue:
    """Store the mailbox with its password encrypted; testing it is the next step."""
    form = MailboxForm()
    if not form.validate_on_submit():
        return _page(form), 400
    session = get_session()
    try:
        mailbox = connect_mailbox(
            session,
            current_user(),
            services().secret_box,
            MailboxSettings(
                email_address=form.email_address.data,
                display_name=form.display_name.data or "",
                imap_host=form.imap_host.data,
                imap_port=form.imap_port.data,
                imap_tls=TlsMode(form.imap_tls.data),
                smtp_host=form.smtp_host.data,
                smtp_port=form.smtp_port.data,
                smtp_tls=TlsMode(form.smtp_tls.data),
                username=form.username.data or "",
            ),
            form.password.data,
        )
    except ValidationError as error:
        session.rollback()
        flash(sentence(error), "error")
        return _page(form), 400
    session.commit()
    flash(
        f"{mailbox.email_address} is connected. Test the connection to be sure it works.",
        "success",
    )
    return redirect(url_for("mailboxes.index"))


@bp.post("/mailbox/<int:mailbox_id>/test")
def test(mailbox_id: int) -> ResponseReturnValue:
    """Really log in to IMAP and SMTP, find the Sent folder, and say what went wrong.

    :raise 404: when the mailbox is not the user's.
    """
    session = get_session()
    mailbox = get_mailbox(session, current_user(), mailbox_id)
    settings = services().settings
    report = check_mailbox(mailbox, services().secret_box, client_context(settings.ca_file))
    session.commit()
    if report.ok:
        flash(
            f"{mailbox.email_address} works: both servers accepted the login, "
            f"and sent mail is kept in “{report.sent_folder}”.",
            "success",
        )
    else:
        for problem in report.problems:
            flash(sentence(problem), "error")
    return redirect(url_for("mailboxes.index"))
