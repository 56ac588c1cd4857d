"""Throttling: how often signing in, signing up and the costly actions may be tried.

A view says which throttles apply with `@throttled(...)`; `init_app` builds one
Flask-Limiter per app after the blueprints are registered and wraps each marked
view with its limits. The counters live in Redis where the dashboard has one
(`outreach up` always gives it the bundled Valkey), so every gunicorn process
counts together; without Redis, in this process's memory. When Redis stops
answering, Flask-Limiter counts in memory until it is back rather than failing
the request.

Each limit is a string of growing windows ("5/minute;20/hour;100/day") from
Settings.rate_limits. A refusal is HTTP 429 with a Retry-After header and a
sentence that says how long to wait; the sign-in and sign-up pages show it
above their form, which stays usable.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask_login
from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.wrappers import Response

from outreach.config import RateLimits, Settings

LIMITER_KEY = "outreach.limiter"
_MARK = "_outreach_throttles"
View = TypeVar("View", bound=Callable[..., ResponseReturnValue])
# A view's own page for a refusal, given the sentence to show (the sign-in form, say).
RefusedPage = Callable[[str], ResponseReturnValue]


def client_address() -> str:
    """Who is asking: the client's address, an IPv6 client by its /64 network.

    One IPv6 host is usually given a whole /64, so counting single addresses would
    give it 2**64 separate allowances. Behind OUTREACH_TRUSTED_PROXIES proxies,
    ProxyFix has already put the client's own address in remote_addr.
    """
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(parsed)


def account_key() -> str:
    """The account a password is tried against: the signed-in user's, else the email typed.

    Normalised as sign-in normalises it, and hashed so that the counters' names in
    Redis hold no email address.
    """
    account = flask_login.current_user
    email = account.user.email if account.is_authenticated else request.form.get("email", "")
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"account-{digest}"


def user_key() -> str:
    """The signed-in user (every throttled action but sign-in and sign-up needs one)."""
    account = flask_login.current_user
    if account.is_authenticated:
        return f"user-{account.get_id()}"
    return client_address()


@dataclass(frozen=True)
class Throttle:
    """One counter: what it counts by, which setting limits it, and what a refusal says.

    Views naming the same throttle share its counter. `message` holds "{wait}",
    filled in with how long to wait ("3 minutes"). With `failures_only`, only
    answers that refused the request (4xx) count: a right password is never held
    against anyone, but while the limit is reached it is refused too.
    """

    scope: str
    limit: Callable[[RateLimits], str]
    key: Callable[[], str]
    message: str
    failures_only: bool = False


LOGIN_ACCOUNT = Throttle(
    "login-account",
    lambda limits: limits.login_account,
    account_key,
    "Too many attempts to sign in to this account. Try again in {wait}.",
    failures_only=True,
)
# The same counter as LOGIN_ACCOUNT: a stolen sign-in cannot guess the password
# through the profile's "current password" any faster than through the login page.
PASSWORD_CHANGE = Throttle(
    LOGIN_ACCOUNT.scope,
    LOGIN_ACCOUNT.limit,
    account_key,
    "Too many wrong passwords were typed for this account. Try again in {wait}.",
    failures_only=True,
)
LOGIN_ADDRESS = Throttle(
    "login-address",
    lambda limits: limits.login_address,
    client_address,
    "Too many failed sign-ins from your network. Try again in {wait}.",
    failures_only=True,
)
SIGNUP = Throttle(
    "signup",
    lambda limits: limits.signup,
    client_address,
    "Too many accounts were created from your network. Try again in {wait}.",
)
OAUTH_START = Throttle(
    "oauth-start",
    lambda limits: limits.oauth,
    user_key,
    "Too many sign-ins with Google or Microsoft were started. Try again in {wait}.",
)
TEST_CONNECTION = Throttle(
    "test-connection",
    lambda limits: limits.test_connection,
    user_key,
    "Too many connection tests in a short time. Try again in {wait}.",
)
TEMPLATE_PREVIEW = Throttle(
    "template-preview",
    lambda limits: limits.template_preview,
    user_key,
    "Templates were previewed or saved many times in a short time. Try again in {wait}.",
)


@dataclass(frozen=True)
class _Marks:
    throttles: tuple[Throttle, ...]
    refused: RefusedPage | None


def throttled(*throttles: Throttle, refused: RefusedPage | None = None) -> Callable[[View], View]:
    """Limit a view by `throttles`; `refused` renders its own page for a refusal.

    Only marks the view: the limits are put in place per app by `init_app`, from
    that app's settings.
    """

    def mark(view: View) -> View:
        setattr(view, _MARK, _Marks(throttles, refused))
        return view

    return mark


def _failed(response: Response) -> bool:
    # A refusal by the limit itself is not one more attempt.
    return 400 <= response.status_code < 500 and response.status_code != 429


def _storage_uri(redis_url: str | None) -> str:
    """The limits library's name for the configured Redis; memory without one."""
    if not redis_url:
        return "memory://"
    # redis-py's unix:// and the bundled Valkey's valkey+unix:// are redis+unix:// there.
    for scheme in ("unix://", "valkey+unix://"):
        if redis_url.startswith(scheme):
            return "redis+unix://" + redis_url[len(scheme) :]
    if redis_url.startswith("valkey://"):
        return "redis://" + redis_url[len("valkey://") :]
    return redis_url


def _limiter(settings: Settings) -> Limiter:
    uri = _storage_uri(settings.redis_url)
    # A Redis that hangs must not hang sign-in: after two seconds the limiter
    # falls back to counting in memory.
    options: dict[str, str | int] = (
        {} if uri == "memory://" else {"socket_connect_timeout": 2, "socket_timeout": 2}
    )
    return Limiter(
        client_address,
        storage_uri=uri,
        storage_options=options,
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        key_prefix="outreach",
        # Every window is checked, so Retry-After names the longest one reached.
        fail_on_first_breach=False,
    )


def init_app(app: Flask, settings: Settings) -> None:
    """Put the marked views' limits in place; call after every blueprint is registered."""
    app.register_error_handler(RateLimitExceeded, too_many_attempts)
    if not settings.rate_limits.enabled:
        return
    limiter = _limiter(settings)
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    for endpoint, view in list(app.view_functions.items()):
        marks: _Marks | None = getattr(view, _MARK, None)
        if marks is None:
            continue
        limited: Callable[..., Any] = view
        for throttle in marks.throttles:
            limited = limiter.shared_limit(
                throttle.limit(settings.rate_limits),
                scope=throttle.scope,
                key_func=throttle.key,
                error_message=throttle.message,
                deduct_when=_failed if throttle.failures_only else None,
            )(limited)
        app.view_functions[endpoint] = limited


def seconds_to_wait() -> int:
    """Seconds until the limit this request reached lets the next attempt through."""
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    reached = limiter.current_limit if limiter is not None else None
    if reached is None:
        return 60
    # Not reset_at, which Flask-Limiter rounds up by a second more.
    return max(1, math.ceil(reached.window.reset_time - time.time()))


def wait_in_words(seconds: int) -> str:
    """ "a minute", "7 minutes", "3 hours": rounded up, never "0 minutes"."""
    minutes = math.ceil(seconds / 60)
    if minutes <= 1:
        return "a minute"
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


def too_many_attempts(error: RateLimitExceeded) -> ResponseReturnValue:
    """HTTP 429: the throttle's sentence, on the view's own page when it has one."""
    seconds = seconds_to_wait()
    template = error.description or "Too many attempts. Try again in {wait}."
    message = template.replace("{wait}", wait_in_words(seconds))
    view = current_app.view_functions.get(request.endpoint or "")
    marks: _Marks | None = getattr(view, _MARK, None)
    if marks is not None and marks.refused is not None:
        page = marks.refused(message)
    else:
        page = render_template("errors/429.html", message=message)
    response = current_app.make_response(page)
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response
