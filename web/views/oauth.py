"""Sign in with Google or Microsoft: the OAuth2 authorization-code flow with PKCE.

The start form posts here; we keep the state and the PKCE verifier in the
signed session cookie, bound to the signed-in user, and send the browser to the
provider. The provider sends it back to the callback, which takes the pending
sign-in out of the cookie (so each one is used once), checks the state, trades
the code for tokens and connects the mailbox. The tokens themselves are stored
by the core, encrypted like a password (see docs/decisions/0008-oauth2.md).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime, timedelta
from typing import TypedDict
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask.typing import ResponseReturnValue

from outreach.connection_check import check_mailbox
from outreach.errors import OAuthError, ValidationError
from outreach.mail.tls import client_context
from outreach.models import Mailbox
from outreach.oauth.flow import finish_authorization, start_authorization
from outreach.oauth.providers import OAuthProvider, configured_providers
from outreach.oauth.tokens import AccessTokens, connect_oauth_mailbox
from web.auth import current_user
from web.db import get_session
from web.headers import CONTENT_SECURITY_POLICY
from web.helpers import now, sentence
from web.limits import OAUTH_START, throttled
from web.state import services

bp = Blueprint("oauth", __name__, url_prefix="/mailboxes/oauth")

# Where the pending sign-in waits in the session cookie between start and callback.
PENDING_KEY = "oauth_pending"
# Long enough to read a consent screen and pick an account; providers' codes
# last about as long.
PENDING_LIFETIME = timedelta(minutes=15)
# A provider's error code is short ASCII (RFC 6749 §4.1.2.1); anything else is not shown.
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
# An origin we may put into the Content-Security-Policy header.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")

NOT_STARTED_HERE = (
    "This sign-in could not be checked: it was not started from your Mailbox page "
    "in this browser, it was already used, or it took too long. Nothing was connected. "
    "Please start again from the Mailbox page."
)


class PendingSignIn(TypedDict):
    """What the session cookie holds between start and callback."""

    provider: str
    user_id: int
    state: str
    code_verifier: str
    redirect_uri: str
    started_at: str


def providers() -> dict[str, OAuthProvider]:
    """The providers this deployment has an app registration for."""
    return configured_providers(services().settings)


def access_tokens() -> AccessTokens:
    """Access tokens for OAuth2 mailboxes, renewed in the core's one place (outreach.oauth)."""
    found = services()
    return AccessTokens.from_settings(found.settings, found.sessions, found.secret_box)


def test_connection(mailbox: Mailbox, works: str) -> None:
    """Log in to both servers now, commit what the test found, and flash its outcome.

    `works` begins the sentence flashed when both servers let us in.
    """
    found = services()
    report = check_mailbox(
        mailbox,
        found.secret_box,
        client_context(found.settings.ca_file),
        access_tokens(),
        now(),
        policy=found.settings.address_policy,
    )
    get_session().commit()
    if report.ok:
        flash(f"{works}, and sent mail is kept in “{report.sent_folder}”.", "success")
    else:
        for problem in report.problems:
            flash(sentence(problem), "error")


def _provider(name: str) -> OAuthProvider:
    """:raise 404: when no such provider is configured (unknown and unconfigured look alike)."""
    found = providers().get(name)
    if found is None:
        abort(404)
    return found


# Without OUTREACH_PUBLIC_URL, the Host a browser sent is trusted only when it names this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

NO_PUBLIC_URL = (
    "Sign-in with {provider} needs OUTREACH_PUBLIC_URL set to this dashboard's address "
    "(such as https://outreach.uni.example): without it, the sign-in only works when the "
    "dashboard is opened as http://localhost or http://127.0.0.1 on its own machine. "
    "Nothing was connected."
)


def redirect_uri(provider: OAuthProvider) -> str | None:
    """The callback URL the provider sends the browser back to; None when none can be trusted.

    It must match, to the character, the one registered with the provider, and
    the provider sends the code to it. So it is built from OUTREACH_PUBLIC_URL
    when that is set, never from the request's Host header, which anyone can
    forge. Unset (one person on a laptop), only a loopback Host is accepted.
    """
    path = url_for("oauth.callback", provider=provider.name)
    public_url = services().settings.public_url
    if public_url:
        return public_url.rstrip("/") + path
    if urlsplit(f"//{request.host}").hostname not in LOOPBACK_HOSTS:
        return None
    return url_for("oauth.callback", provider=provider.name, _external=True)


def allow_provider_forms(response: Response, shown: dict[str, OAuthProvider]) -> Response:
    """Let the page's sign-in forms lead on to the providers' authorization pages.

    Browsers apply the form-action directive to the redirects that follow a form
    post, so the dashboard's "form-action 'self'" alone would stop the start form
    at our own redirect to the provider.
    """
    origins = sorted(
        {
            f"{parts.scheme}://{parts.netloc}"
            for parts in (urlsplit(provider.authorize_url) for provider in shown.values())
        }
    )
    allowed = [origin for origin in origins if _ORIGIN.match(origin)]
    if not allowed:
        return response
    policy = CONTENT_SECURITY_POLICY
    if "form-action 'self'" not in policy:
        raise RuntimeError("CONTENT_SECURITY_POLICY no longer has \"form-action 'self'\"")
    response.headers["Content-Security-Policy"] = policy.replace(
        "form-action 'self'", "form-action 'self' " + " ".join(allowed)
    )
    return response


@bp.post("/<provider>/start")
@throttled(OAUTH_START)
def start(provider: str) -> ResponseReturnValue:
    """Send the browser to the provider's consent page (the form carries a CSRF token).

    :raise 404: when the provider is not configured.
    """
    chosen = _provider(provider)
    callback = redirect_uri(chosen)
    if callback is None:
        message = NO_PUBLIC_URL.format(provider=chosen.label)
        return render_template("errors/400.html", message=message), 400
    login_hint = request.form.get("login_hint", "").strip()
    if len(login_hint) > 320 or any(ch.isspace() for ch in login_hint):
        login_hint = ""
    authorization = start_authorization(chosen, callback, login_hint=login_hint)
    pending: PendingSignIn = {
        "provider": chosen.name,
        "user_id": current_user().id,
        "state": authorization.state,
        "code_verifier": authorization.code_verifier,
        "redirect_uri": callback,
        "started_at": now().isoformat(),
    }
    cookie_session[PENDING_KEY] = pending
    return redirect(authorization.url, code=303)


def _take_pending(provider: OAuthProvider) -> PendingSignIn | None:
    """The pending sign-in for this user and provider, removed from the cookie; else None."""
    pending = cookie_session.pop(PENDING_KEY, None)
    if not isinstance(pending, dict):
        return None
    try:
        started_at = datetime.fromisoformat(str(pending["started_at"]))
        belongs = (
            pending["provider"] == provider.name
            and pending["user_id"] == current_user().id
            and isinstance(pending["state"], str)
            and isinstance(pending["code_verifier"], str)
            and isinstance(pending["redirect_uri"], str)
        )
    except (KeyError, ValueError):
        return None
    if not belongs or now() - started_at > PENDING_LIFETIME:
        return None
    return PendingSignIn(
        provider=pending["provider"],
        user_id=pending["user_id"],
        state=pending["state"],
        code_verifier=pending["code_verifier"],
        redirect_uri=pending["redirect_uri"],
        started_at=pending["started_at"],
    )


def _refused() -> ResponseReturnValue:
    return render_template("errors/400.html", message=NOT_STARTED_HERE), 400


@bp.get("/<provider>/callback")
def callback(provider: str) -> ResponseReturnValue:
    """Where the provider sends the browser back: check, trade the code, connect, test.

    :raise 404: when the provider is not configured.
    """
    chosen = _provider(provider)
    pending = _take_pending(chosen)
    returned_state = request.args.get("state", "")
    if pending is None or not hmac.compare_digest(
        returned_state.encode(), pending["state"].encode()
    ):
        return _refused()

    error = request.args.get("error", "")
    if error == "access_denied":
        flash(
            f"You did not allow access to your mailbox at {chosen.label}, so nothing was "
            "connected. To connect it, sign in again and choose Allow.",
            "error",
        )
        return redirect(url_for("mailboxes.index"))
    if error:
        code = error if _ERROR_CODE.match(error) else "an unknown error"
        flash(
            f"{chosen.label} did not finish the sign-in ({code}); nothing was connected. "
            "Please try again.",
            "error",
        )
        return redirect(url_for("mailboxes.index"))
    code = request.args.get("code", "")
    if not code:
        return _refused()

    settings = services().settings
    try:
        grant = finish_authorization(
            chosen,
            code=code,
            code_verifier=pending["code_verifier"],
            redirect_uri=pending["redirect_uri"],
            now=now(),
            ca_file=settings.ca_file,
        )
    except OAuthError as problem:
        flash(sentence(problem), "error")
        return redirect(url_for("mailboxes.index"))

    session = get_session()
    box = services().secret_box
    try:
        mailbox = connect_oauth_mailbox(session, box, current_user(), chosen, grant, now())
    except ValidationError as problem:
        session.rollback()
        flash(sentence(problem), "error")
        return redirect(url_for("mailboxes.index"))
    session.commit()
    flash(f"Connected {mailbox.email_address} with {chosen.label}.", "success")

    # Two logins and a folder list: cheap, and it tells at once whether the
    # provider lets us in over IMAP and SMTP (Microsoft tenants may not).
    test_connection(mailbox, "Both servers accepted the sign-in")
    return redirect(url_for("mailboxes.index"))
