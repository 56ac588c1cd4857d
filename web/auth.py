"""Sign up, log in, log out, and the one rule that every other page needs a login."""

from __future__ import annotations

from urllib.parse import urlsplit

import flask_login
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from outreach import signup as signup_rules
from outreach.accounts import authenticate, get_user
from outreach.models import User
from web.attempt import attempt
from web.db import get_session
from web.forms import LoginForm, SignupForm
from web.helpers import now, sentence
from web.limits import LOGIN_ACCOUNT, LOGIN_ADDRESS, SIGNUP, throttled
from web.state import services

bp = Blueprint("auth", __name__)
login_manager = flask_login.LoginManager()

# Everything else redirects anonymous visitors to the login page, so a new
# view cannot be left open by forgetting a decorator.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "auth.login_submit", "auth.signup", "auth.signup_submit", "healthz", "static"}
)
WRONG_LOGIN = "That email and password do not match."
SIGNED_OUT = "Your sign-in has ended. Please log in again."
# What the cookie session holds about the sign-in, besides flask-login's user id.
SESSION_VERSION = "session_version"
SIGNED_IN_AT = "signed_in_at"


class SignedIn:
    """How flask-login sees a signed-in user; `.user` is the row for this request."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)


def load_user(user_id: str) -> SignedIn | None:
    try:
        ident = int(user_id)
    except ValueError:
        return None
    user = get_user(get_session(), ident)
    if user is None:
        return None
    if not _sign_in_is_current(user):
        # Forgotten, and said, on the next page the person opens: a script's
        # background request (the board's live updates) would swallow the message.
        if request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate":
            cookie_session.clear()
            flash(SIGNED_OUT, "info")
        return None
    return SignedIn(user)


def _sign_in_is_current(user: User) -> bool:
    """False once the user signed out everywhere or changed the password, or it is too old.

    The age is checked here as well as by the cookie's signature, whose clock
    restarts with every response: a cookie in steady use would otherwise never expire.
    """
    if cookie_session.get(SESSION_VERSION) != user.session_version:
        return False
    started = cookie_session.get(SIGNED_IN_AT)
    if not isinstance(started, int | float):
        return False
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return 0 <= now().timestamp() - started < lifetime


def sign_in(user: User) -> None:
    """Start a sign-in for `user` in a fresh cookie session: nothing from before carries over."""
    cookie_session.clear()
    cookie_session.permanent = True
    cookie_session[SIGNED_IN_AT] = int(now().timestamp())
    keep_signed_in(user)
    flask_login.login_user(SignedIn(user))
    # The sign-in's own CSRF token, in its first cookie: pages kept for the user are
    # kept per token (web.page_cache), so even the first page can be served kept.
    g.pop("csrf_token", None)
    generate_csrf()


def keep_signed_in(user: User) -> None:
    """Let this sign-in outlive the session version it has just raised (a password change)."""
    cookie_session[SESSION_VERSION] = user.session_version


def sign_out() -> None:
    flask_login.logout_user()
    cookie_session.clear()


def current_user() -> User:
    """The signed-in user, loaded in this request's session."""
    account = flask_login.current_user
    if not isinstance(account, SignedIn):
        # require_login runs first, so a view never gets here without a user.
        raise RuntimeError("current_user() called on a page that does not require a login")
    return account.user


def is_signed_in() -> bool:
    return bool(flask_login.current_user.is_authenticated)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: no open redirects.

    Browsers read a backslash as a slash, so "/\\evil.example" is refused like
    "//evil.example".
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def require_login() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS or is_signed_in():
        return None
    # A POST cannot be replayed after logging in, so only a GET is remembered.
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    # An OAuth callback's code and state would be carried into the login page's URL.
    if next_path == "/" or request.endpoint == "oauth.callback":
        next_path = None
    return redirect(url_for("auth.login", next=next_path))


# Where the sign-up page leaves the address for the login page to fill in.
SIGNED_UP_KEY = "signed_up_email"


def signed_up(address: str) -> str:
    """The one answer to every sign-up that goes through, whether the address was new or not."""
    return (
        f"Thank you. You can now log in with {address} and your password. If that address "
        "had an account here already, nothing about it has changed: use its own password."
    )


def _signup_page(form: SignupForm, status: int = 200) -> ResponseReturnValue:
    settings = services().settings
    invite = None
    problem = None
    if settings.signup != signup_rules.CLOSED and form.invite.data:
        try:
            invite = signup_rules.find_invite(get_session(), form.invite.data, now())
        except signup_rules.InviteProblem as error:
            problem = sentence(error)
            if settings.signup == signup_rules.OPEN:
                # Anyone may sign up here: the form goes on without the dead link.
                form.invite.data = ""
    if invite is not None:
        form.email.data = invite.email
    return (
        render_template(
            "auth/signup.html",
            form=form,
            mode=settings.signup,
            contact=settings.signup_contact,
            invite=invite,
            invite_problem=problem,
        ),
        status,
    )


@bp.get("/signup")
def signup() -> ResponseReturnValue:
    if is_signed_in():
        return redirect(url_for("board.index"))
    form = SignupForm(formdata=None, invite=request.args.get("invite", "")[:100])
    return _signup_page(form)


def _signup_refused(message: str) -> ResponseReturnValue:
    flash(message, "error")
    return _signup_page(SignupForm())  # the status becomes 429


@bp.post("/signup")
@throttled(SIGNUP, refused=_signup_refused)
def signup_submit() -> ResponseReturnValue:
    """Create the account, then send the person to log in.

    Nothing here says whether the address had an account already: the answer,
    the page after it and the time taken are the same (docs/decisions/0013).
    """
    settings = services().settings
    form = SignupForm()
    if settings.signup == signup_rules.CLOSED:
        return _signup_page(form, 403)
    if not form.validate_on_submit():
        return _signup_page(form, 400)
    session = get_session()
    with attempt(session) as outcome:
        answer = signup_rules.sign_up(
            session,
            mode=settings.signup,
            email=form.email.data,
            name=form.name.data,
            password=form.password.data,
            invite_token=form.invite.data or "",
            time_zone=form.time_zone.data or "",
            now=now(),
        )
    if outcome.refused:
        return _signup_page(form, 400)
    cookie_session.clear()
    cookie_session[SIGNED_UP_KEY] = answer.email
    flash(signed_up(answer.email), "success")
    return redirect(url_for("auth.login"), 303)


@bp.get("/login")
def login() -> ResponseReturnValue:
    if is_signed_in():
        return redirect(url_for("board.index"))
    form = LoginForm(
        next=safe_next(request.args.get("next")) or "",
        email=cookie_session.pop(SIGNED_UP_KEY, ""),
    )
    return _login_page(form)


def _login_page(form: LoginForm, status: int = 200) -> ResponseReturnValue:
    """The login page; it says what Outreach is, and how to get an account in this mode."""
    settings = services().settings
    return (
        render_template(
            "auth/login.html", form=form, mode=settings.signup, contact=settings.signup_contact
        ),
        status,
    )


def _login_refused(message: str) -> ResponseReturnValue:
    """The sign-in page again, the email kept, with how long to wait."""
    flash(message, "error")
    return _login_page(LoginForm())  # the status becomes 429


@bp.post("/login")
@throttled(LOGIN_ACCOUNT, LOGIN_ADDRESS, refused=_login_refused)
def login_submit() -> ResponseReturnValue:
    """Sign in; only failed attempts count toward the account's and the address's limits."""
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, 400)
    session = get_session()
    user = authenticate(session, form.email.data, form.password.data)
    if user is None:
        flash(WRONG_LOGIN, "error")
        return _login_page(form, 400)
    # authenticate may have upgraded the stored hash.
    session.commit()
    sign_in(user)
    return redirect(safe_next(form.next.data) or url_for("board.index"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    sign_out()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    # Registered before CSRFProtect, so an anonymous POST is sent to the login
    # page rather than told its token is missing.
    app.before_request(require_login)
    app.register_blueprint(bp)
