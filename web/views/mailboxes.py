"""Connect the user's own mailbox, test that both of its servers let us in, set its pace.

Also what every page shows about a mailbox that needs the user: the banner's
data (a context processor) and the Content-Security-Policy its sign-in button needs.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from dataclasses import dataclass
from enum import StrEnum

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from outreach.accounts import (
    change_mailbox_password,
    connect_mailbox,
    get_mailbox,
    list_mailboxes,
    normalise_email,
    update_pace,
)
from outreach.errors import ValidationError
from outreach.mail.autodiscover import (
    Discovery,
    Lookup,
    Source,
    UsernameStyle,
    discover,
    from_preset,
)
from outreach.mail.presets import listed_servers, preset_for
from outreach.models import Mailbox, MailboxStatus
from outreach.oauth.providers import LABELS, OAuthProvider
from web.auth import current_user, is_signed_in
from web.db import get_session
from web.forms import MailboxForm, PaceForm
from web.helpers import pace_in_words, sentence
from web.limits import TEST_CONNECTION, throttled
from web.state import services
from web.views import oauth

log = logging.getLogger(__name__)

bp = Blueprint("mailboxes", __name__)

# App config keys: where "Find my settings" looks (an outreach.mail.autodiscover.Lookup;
# tests point it at servers on 127.0.0.1) and how long the page waits for it in all.
DISCOVERY_LOOKUP = "OUTREACH_DISCOVERY_LOOKUP"
DISCOVERY_SECONDS = "OUTREACH_DISCOVERY_SECONDS"
# Each HTTP request and DNS query waits this long; the whole search at most
# DEFAULT_DISCOVERY_SECONDS, whatever hangs (the system resolver included).
DEFAULT_LOOKUP = Lookup(timeout=3.0)
DEFAULT_DISCOVERY_SECONDS = 8.0
# A few searches at once. Beyond that a request waits its turn (and may run out
# of time) instead of starting threads without end for addresses typed in a form.
_searches = ThreadPoolExecutor(max_workers=4, thread_name_prefix="find-settings")

# Settings of the big providers, shown beside the form (name, IMAP host, SMTP host).
PRESETS = listed_servers()


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


class Outcome(StrEnum):
    """How a search for a mailbox's settings ended."""

    FOUND = "found"
    NOTHING = "nothing"  # every source answered, none knew the address
    TOO_SLOW = "too-slow"  # the page stopped waiting
    NOT_AN_ADDRESS = "not-an-address"


@dataclass(frozen=True)
class Finding:
    """What "Find my settings" (or the preset for an address) tells the page."""

    address: str
    outcome: Outcome
    discovery: Discovery | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    @property
    def where(self) -> str:
        """Where the settings came from, or why none were filled in: one or two sentences."""
        domain = self.domain
        found = self.discovery
        if self.outcome is Outcome.NOT_AN_ADDRESS:
            return "Please type your whole email address, such as sam@example.org."
        if self.outcome is Outcome.TOO_SLOW:
            return (
                f"Looking up the settings for {domain} took too long, so Outreach stopped "
                "waiting. Please fill them in below (your provider's help pages list them), "
                "or try again in a moment."
            )
        if found is None:
            return (
                f"No settings were found for {domain}: it is not one of the big providers "
                "Outreach knows, and it publishes no autoconfig file or DNS records for mail "
                "programs. Please fill them in below; your provider or IT team can tell you "
                "the IMAP and SMTP servers."
            )
        if found.source is Source.PRESET:
            where = f"Filled in for {found.provider}, from Outreach's own list of providers."
        elif found.source is Source.AUTOCONFIG:
            by = "" if found.provider.lower() == domain else f" ({found.provider})"
            where = f"Filled in from the settings found in {domain}'s autoconfig file{by}."
        elif found.source is Source.SRV:
            where = f"Filled in from {domain}'s DNS SRV records."
        else:
            where = f"Guessed from {domain}'s MX records: {found.provider}."
        if found.username_style is UsernameStyle.LOCAL_PART:
            where += " Its servers expect the part before the @ as the user name."
        elif found.username_style is UsernameStyle.OTHER:
            where += " Its servers expect a login name of their own: check the user name."
        return where + " Check them below before you connect."


def _discover_within(address: str) -> Finding:
    """Search for `address`'s settings, waiting at most the app's DISCOVERY_SECONDS.

    The search runs in a worker thread so that nothing it waits on, the system's
    resolver included, can hold the page longer than that; a search the page gave
    up on finishes in the background within its own timeouts.
    """
    lookup = current_app.config.get(DISCOVERY_LOOKUP, DEFAULT_LOOKUP)
    seconds = float(current_app.config.get(DISCOVERY_SECONDS, DEFAULT_DISCOVERY_SECONDS))
    search = _searches.submit(discover, address, lookup)
    try:
        found = search.result(timeout=seconds)
    except LookupTimeout:
        search.cancel()
        return Finding(address, Outcome.TOO_SLOW)
    except Exception:
        # A bug in a source must not cost the person the page: the fields stay theirs.
        log.exception("finding the settings for a %s address failed", address.rpartition("@")[2])
        return Finding(address, Outcome.NOTHING)
    return Finding(address, Outcome.FOUND if found else Outcome.NOTHING, found)


def _page(
    form: MailboxForm,
    posted: tuple[int, PaceForm, str | None] | None = None,
    finding: Finding | None = None,
) -> Response:
    """The page; `posted` is a refused pace form (mailbox id, form, the core's sentence).

    It offers "Sign in with ..." for each provider this deployment has configured,
    first of all for the provider `finding` says hosts the address.
    """
    sign_in_providers = oauth.providers()
    discovery = finding.discovery if finding else None
    suggested = sign_in_providers.get(discovery.oauth_provider or "") if discovery else None
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
        finding=finding,
        suggested_provider=suggested,
        paces=paces,
        pace_problems=problems,
        pace_words={mailbox.id: pace_in_words(mailbox) for mailbox in mailboxes},
        oauth_providers=sign_in_providers,
        # Who to ask when a sign-in the person needs is not set up here.
        admin_contact=services().settings.signup_contact,
    )
    return oauth.allow_provider_forms(make_response(page), sign_in_providers)


def _blank_connect_form(address: str | None = None, found: Discovery | None = None) -> MailboxForm:
    """The connect form for `address` (default: the user's own), filled from `found`."""
    user = current_user()
    email = (address or user.email).strip()
    if found is None:
        return MailboxForm(formdata=None, email_address=email, display_name=user.name)
    return MailboxForm(
        formdata=None,
        email_address=email,
        display_name=user.name,
        username=found.username,
        **MailboxForm.server_data(found),
    )


def _looks_like_address(text: str) -> bool:
    try:
        normalise_email(text)
    except ValidationError:
        return False
    return len(text) <= 320


def _preset_finding(address: str) -> Finding | None:
    """The big providers' settings, known without asking the network; None for others."""
    found = from_preset(address)
    return None if found is None else Finding(address.strip(), Outcome.FOUND, found)


@bp.get("/mailbox")
def index() -> ResponseReturnValue:
    """The mailboxes; `?address=` fills the connect form from that provider's preset.

    Only presets here: looking further (HTTPS, DNS) is "Find my settings", a POST.
    """
    address = (request.args.get("address") or current_user().email).strip()
    finding = _preset_finding(address)
    form = _blank_connect_form(address, finding.discovery if finding else None)
    return _page(form, finding=finding)


@bp.post("/mailbox/discover")
def find_settings() -> ResponseReturnValue:
    """Fill in the connect form from what the address's provider publishes.

    Presets, then autoconfig, SRV and MX records (outreach.mail.autodiscover); the
    page says where the settings came from, or that none were found, and comes
    back within the app's DISCOVERY_SECONDS whatever the network does.
    """
    # The page posts its one address field, email_address; "address" is the older name.
    address = (request.form.get("email_address") or request.form.get("address") or "").strip()
    if not _looks_like_address(address):
        finding = Finding(address, Outcome.NOT_AN_ADDRESS)
        return _page(_blank_connect_form(address[:320] or None), finding=finding), 400
    finding = _discover_within(address)
    return _page(_blank_connect_form(address, finding.discovery), finding=finding)


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
            form.settings(),
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


def _test_refused(message: str) -> ResponseReturnValue:
    flash(message, "error")
    return _page(_blank_connect_form())


@bp.post("/mailbox/<int:mailbox_id>/test")
@throttled(TEST_CONNECTION, refused=_test_refused)
def test(mailbox_id: int) -> ResponseReturnValue:
    """Really log in to IMAP and SMTP, find the Sent folder, and say what went wrong.

    :raise 404: when the mailbox is not the user's.
    """
    mailbox = get_mailbox(get_session(), current_user(), mailbox_id)
    oauth.test_connection(
        mailbox, f"{mailbox.email_address} works: both servers accepted the login"
    )
    return redirect(url_for("mailboxes.index"))


@bp.post("/mailbox/<int:mailbox_id>/password")
@throttled(TEST_CONNECTION, refused=_test_refused)
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


# --- the banner on every page ----------------------------------------------------------------


@dataclass(frozen=True)
class MailboxAlert:
    """A mailbox that needs the user, as the banner shows it."""

    mailbox_id: int
    address: str
    needs_sign_in: bool
    # What went wrong, as stored by the process that found it; "" when nothing was said.
    problem: str
    sending_paused: bool
    # The configured provider to sign in again with; None for a password mailbox, or
    # when this deployment no longer has an app registered for it.
    provider: OAuthProvider | None
    provider_label: str

    @property
    def password_refused(self) -> bool:
        """Sending paused for a refused password: the Outbox's own notice says that one."""
        return self.sending_paused and not self.needs_sign_in


# Where a request keeps its banner list (web.views.board restores it with a kept page).
ALERTS_KEY = "mailbox_alerts"
_NEEDS_USER = (MailboxStatus.NEEDS_ATTENTION, MailboxStatus.NEEDS_SIGN_IN)


def mailbox_alerts() -> list[MailboxAlert]:
    """The signed-in user's mailboxes that need them: one query, once per request."""
    if ALERTS_KEY in g:
        cached: list[MailboxAlert] = g.get(ALERTS_KEY)
        return cached
    alerts: list[MailboxAlert] = []
    if is_signed_in():
        rows = get_session().scalars(
            select(Mailbox)
            .where(Mailbox.user_id == current_user().id, Mailbox.status.in_(_NEEDS_USER))
            .order_by(Mailbox.id)
        )
        configured = oauth.providers()
        for mailbox in rows:
            name = mailbox.oauth_provider or ""
            sign_in = mailbox.status is MailboxStatus.NEEDS_SIGN_IN
            alerts.append(
                MailboxAlert(
                    mailbox_id=mailbox.id,
                    address=mailbox.email_address,
                    needs_sign_in=sign_in,
                    problem=sentence(mailbox.last_error) if mailbox.last_error else "",
                    sending_paused=mailbox.sending_paused,
                    provider=configured.get(name) if sign_in else None,
                    provider_label=LABELS.get(name, name.title() or "Your provider"),
                )
            )
    g.setdefault(ALERTS_KEY, alerts)
    return alerts


def banner_context() -> dict[str, object]:
    """For base.html: the mailboxes to show in the banner at the top of every page."""
    return {"mailbox_alerts": mailbox_alerts()}


def allow_banner_sign_in(response: Response) -> Response:
    """Let the banner's "Sign in again with ..." form lead on to the provider.

    All configured providers are allowed, so a page that already allowed some
    of them for its own sign-in forms (the Mailbox page) keeps them.
    """
    alerts = g.get(ALERTS_KEY)
    if alerts and any(alert.provider is not None for alert in alerts):
        return oauth.allow_provider_forms(response, oauth.providers())
    return response
