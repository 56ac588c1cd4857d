"""Connect the user's own mailbox, test that both of its servers let us in, set its pace."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from outreach.accounts import (
    MailboxSettings,
    change_mailbox_password,
    connect_mailbox,
    get_mailbox,
    list_mailboxes,
    update_pace,
)
from outreach.connection_check import check_mailbox
from outreach.errors import ValidationError
from outreach.mail.tls import client_context
from outreach.models import Mailbox, TlsMode
from outreach.presets import Preset, preset_for
from web.auth import current_user
from web.db import get_session
from web.forms import MailboxForm, PaceForm
from web.helpers import now, pace_in_words, sentence
from web.state import services
from web.views import oauth

bp = Blueprint("mailboxes", __name__)

# Settings of the big providers, shown beside the form (IMAP host, SMTP host).
PRESETS = [
    ("Gmail", "imap.gmail.com", "smtp.gmail.com"),
    ("Outlook / Microsoft 365", "outlook.office365.com", "smtp.office365.com"),
    ("iCloud Mail", "imap.mail.me.com", "smtp.mail.me.com"),
    ("Yahoo Mail", "imap.mail.yahoo.com", "smtp.mail.yahoo.com"),
    ("Fastmail", "imap.fastmail.com", "smtp.fastmail.com"),
]


def pace_form(mailbox: Mailbox) -> PaceForm:
    """The pace form filled from the mailbox as stored (never from a posted form)."""
    return PaceForm(
        formdata=None,
        prefix=f"pace-{mailbox.id}",
        daily_cap=mailbox.daily_cap,
        days=[int(ch) for ch in mailbox.window_days if ch.isdigit()],
        start_hour=mailbox.window_start_hour,
        end_hour=mailbox.window_end_hour,
        min_gap=round(mailbox.min_gap_seconds / 60),
        max_gap=round(mailbox.max_gap_seconds / 60),
    )


def _page(
    form: MailboxForm,
    posted: tuple[int, PaceForm, str | None] | None = None,
    preset: Preset | None = None,
) -> Response:
    """The page; `posted` is a refused pace form (mailbox id, form, the core's sentence).

    It offers "Sign in with ..." for each provider this deployment has configured.
    """
    sign_in_providers = oauth.providers()
    mailboxes = list_mailboxes(get_session(), current_user())
    paces = {mailbox.id: pace_form(mailbox) for mailbox in mailboxes}
    problems: dict[int, str] = {}
    if posted is not None:
        mailbox_id, refused, problem = posted
        paces[mailbox_id] = refused
        if problem:
            problems[mailbox_id] = problem
    page = render_template(
        "mailboxes/index.html",
        form=form,
        mailboxes=mailboxes,
        presets=PRESETS,
        preset=preset,
        paces=paces,
        pace_problems=problems,
        pace_words={mailbox.id: pace_in_words(mailbox) for mailbox in mailboxes},
        oauth_providers=sign_in_providers,
    )
    return oauth.allow_provider_forms(make_response(page), sign_in_providers)


def _blank_connect_form(address: str | None = None) -> MailboxForm:
    """The connect form, filled from a provider preset when the address has one."""
    user = current_user()
    email = (address or user.email).strip()
    preset = preset_for(email)
    if preset is None:
        return MailboxForm(formdata=None, email_address=email, display_name=user.name)
    return MailboxForm(
        formdata=None,
        email_address=email,
        display_name=user.name,
        imap_host=preset.imap_host,
        imap_port=preset.imap_port,
        imap_tls=preset.imap_tls.value,
        smtp_host=preset.smtp_host,
        smtp_port=preset.smtp_port,
        smtp_tls=preset.smtp_tls.value,
        username=email,
    )


@bp.get("/mailbox")
def index() -> ResponseReturnValue:
    """The mailboxes; `?address=` fills the connect form from that provider's preset."""
    address = request.args.get("address")
    preset = preset_for(address or current_user().email)
    return _page(_blank_connect_form(address), preset=preset)


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
    preset = preset_for(mailbox.email_address)
    if preset is not None:
        mailbox.files_sent_copy = preset.files_sent_copy
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
    report = check_mailbox(
        mailbox,
        services().secret_box,
        client_context(settings.ca_file),
        oauth.access_tokens(),
        now(),
    )
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


@bp.post("/mailbox/<int:mailbox_id>/password")
def password(mailbox_id: int) -> ResponseReturnValue:
    """Replace the stored password, then test the connection at once.

    :raise 404: when the mailbox is not the user's.
    """
    session = get_session()
    try:
        mailbox = change_mailbox_password(
            session,
            current_user(),
            services().secret_box,
            mailbox_id,
            request.form.get("password", ""),
        )
    except ValidationError as error:
        flash(sentence(error), "error")
        return redirect(url_for("mailboxes.index"))
    session.commit()
    flash(f"The new password for {mailbox.email_address} is stored.", "success")
    return test(mailbox_id)


@bp.post("/mailbox/<int:mailbox_id>/pace")
def pace(mailbox_id: int) -> ResponseReturnValue:
    """Save the daily cap, the sending days and hours, and the gap between messages.

    :raise 404: when the mailbox is not the user's.
    """
    session = get_session()
    user = current_user()
    mailbox = get_mailbox(session, user, mailbox_id)
    form = PaceForm(prefix=f"pace-{mailbox.id}")
    if not form.validate_on_submit():
        return _page(_blank_connect_form(), (mailbox.id, form, None)), 400
    try:
        update_pace(
            session,
            user,
            mailbox.id,
            daily_cap=form.daily_cap.data,
            window_days=form.days.data or [],
            start_hour=form.start_hour.data,
            end_hour=form.end_hour.data,
            min_gap_seconds=form.min_gap.data * 60,
            max_gap_seconds=form.max_gap.data * 60,
        )
    except ValidationError as error:
        session.rollback()
        return _page(_blank_connect_form(), (mailbox.id, form, sentence(error))), 400
    session.commit()
    flash(
        f"Pace saved for {mailbox.email_address}: {pace_in_words(mailbox)}.",
        "success",
    )
    return redirect(url_for("mailboxes.index", _anchor=f"pace-{mailbox.id}"))
