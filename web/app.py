"""The app factory: the dashboard's settings, services, blueprints and hooks in one Flask app."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, Response, g
from flask_wtf.csrf import CSRFProtect
from jinja2 import StrictUndefined
from werkzeug.middleware.proxy_fix import ProxyFix

from outreach.board import pending_draft_count
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker
from outreach.reading.quoting import split_reply
from outreach.rules.sandbox_addresses import is_sandbox
from outreach.rules.wording import plural
from web import access_log, auth, db, errors, limits
from web.headers import security_headers
from web.helpers import clip, day, mark_gaps, sentence, when
from web.progress import needs_decision_count
from web.state import EXTENSION_KEY, Services
from web.views import (
    admin,
    board,
    cohort_reports,
    cohorts,
    contact_changes,
    contacts,
    drafts,
    mailboxes,
    meetings,
    message_templates,
    oauth,
    outbox,
    preparation,
    profile,
    replies,
    sandbox,
    targets,
)

# Room for a file at the import caps (outreach.reading.limits): 20,000 rows of a
# LinkedIn export are about 2.3 MB.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024

csrf = CSRFProtect()


def _zone_of_user() -> str:
    return auth.current_user().time_zone if auth.is_signed_in() else "UTC"


def _when_for_user(value: datetime | None) -> str:
    """Every page's times on the signed-in user's clock (outreach.rules.local_time)."""
    return when(value, _zone_of_user())


def _day_for_user(value: datetime | None) -> str:
    return day(value, _zone_of_user())


def create_app(settings: Settings | None = None) -> Flask:
    """Build the dashboard for `settings` (default: from the OUTREACH_* environment)."""
    if settings is None:
        settings = Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # A sign-in's cookie lasts this long in the browser; web.auth also ends
        # the sign-in itself this long after login (the cookie is renewed with use).
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.session_days),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        # The token lives as long as the login session, so a draft edited
        # slowly is not lost to an expired form.
        WTF_CSRF_TIME_LIMIT=None,
    )
    # Where "Find my settings" looks and how long it may take; tests replace the
    # lookup with one pointed at their servers on 127.0.0.1.
    app.config.setdefault(mailboxes.DISCOVERY_LOOKUP, mailboxes.DEFAULT_LOOKUP)
    app.config.setdefault(mailboxes.DISCOVERY_SECONDS, mailboxes.DEFAULT_DISCOVERY_SECONDS)
    if settings.trusted_proxies:
        # Only the proxies' own X-Forwarded-For entries are believed: a client
        # cannot choose its address (and so its throttling counter) by sending one.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    app.jinja_env.undefined = StrictUndefined
    access_log.quiet_werkzeug()
    app.add_template_filter(_when_for_user, "when")
    app.add_template_filter(plural)
    app.add_template_filter(sentence)
    app.add_template_filter(_day_for_user, "day")
    app.add_template_filter(mark_gaps)
    app.add_template_filter(clip)
    app.add_template_filter(split_reply, "reply_parts")
    app.add_template_filter(is_sandbox, "is_sandbox")

    engine = make_engine(settings.database_url)
    app.extensions[EXTENSION_KEY] = Services(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        secret_box=SecretBox(settings.encryption_keys),
    )

    db.init_app(app)
    # auth first: its login check must run before CSRFProtect's token check.
    auth.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    for blueprint in (
        board.bp,
        contacts.bp,
        targets.bp,
        mailboxes.bp,
        oauth.bp,
        drafts.bp,
        meetings.bp,
        preparation.bp,
        outbox.bp,
        profile.bp,
        message_templates.bp,
        sandbox.bp,
        contact_changes.bp,
        replies.bp,
        cohorts.bp,
        cohort_reports.bp,
        admin.bp,
    ):
        app.register_blueprint(blueprint)
    # After the blueprints: it wraps the throttled views of this app.
    limits.init_app(app, settings)

    app.context_processor(_navigation)
    # A mailbox that needs the user shows on every page, with its way to fix it.
    app.context_processor(mailboxes.banner_context)
    app.after_request(mailboxes.allow_banner_sign_in)
    app.after_request(security_headers)
    app.add_url_rule("/healthz", "healthz", _healthz)
    return app


def _navigation() -> dict[str, object]:
    """What every page's navigation shows: who is signed in, how many drafts and decisions wait."""
    if not auth.is_signed_in():
        return {"signed_in_user": None, "pending_drafts": 0, "pending_decisions": 0}
    # Worked out once per request: a page made of several templates renders each one
    # with the context processors, and these counts would be queried again every time.
    cached: dict[str, object] | None = g.get("navigation")
    if cached is not None:
        return cached
    user = auth.current_user()
    session = db.get_session()
    navigation: dict[str, object] = {
        "signed_in_user": user,
        "pending_drafts": pending_draft_count(session, user),
        "pending_decisions": needs_decision_count(session, user),
    }
    g.navigation = navigation
    return navigation


def _healthz() -> Response:
    """For docker health checks: the process answers. No login, no database."""
    return Response("ok", mimetype="text/plain")
