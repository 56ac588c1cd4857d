"""Core errors turned into pages with words: 404, 400 with the reason, 500 with the sentence."""

from __future__ import annotations

from flask import Flask, current_app, flash, g, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as HttpNotFound

from outreach.db import is_outage, outage_words
from outreach.errors import ConfigurationError, NotFound, ValidationError
from web.helpers import sentence

STALE_FORM = (
    "This form was out of date or did not come from this page. "
    "Please go back, reload the page and try again."
)


def _forget_unfinished_work() -> None:
    # The page rendered below queries the database (the drafts count in the
    # nav); a half-done use case must neither be flushed nor block it.
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except SQLAlchemyError as error:
            if not is_outage(error):
                raise


def database_away(error: SQLAlchemyError) -> ResponseReturnValue:
    """The database is down or restarting: say so, and when to come back (HTTP 503)."""
    _forget_unfinished_work()
    current_app.logger.warning("the database cannot be used: %s", outage_words(error))
    # Rendered without the context processors: they would ask the database who is
    # signed in and what waits for them, and fail again.
    page = current_app.jinja_env.get_template("errors/500.html").render(
        message=None, database_away=True
    )
    return page, 503, {"Retry-After": "30"}


def not_found(_error: Exception) -> ResponseReturnValue:
    """Someone else's record and a missing one look the same, on purpose."""
    _forget_unfinished_work()
    return render_template("errors/404.html"), 404


def invalid(error: ValidationError) -> ResponseReturnValue:
    _forget_unfinished_work()
    flash(sentence(error), "error")
    return render_template("errors/400.html"), 400


def stale_form(_error: CSRFError) -> ResponseReturnValue:
    _forget_unfinished_work()
    return render_template("errors/400.html", message=STALE_FORM), 400


def too_large(_error: RequestEntityTooLarge) -> ResponseReturnValue:
    limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    message = f"The upload is too large; files of up to {limit} MB are accepted."
    return render_template("errors/400.html", message=message), 413


def misconfigured(error: ConfigurationError) -> ResponseReturnValue:
    _forget_unfinished_work()
    current_app.logger.error("configuration problem: %s", error)
    return render_template("errors/500.html", message=sentence(error)), 500


def server_error(_error: InternalServerError) -> ResponseReturnValue:
    _forget_unfinished_work()
    return render_template("errors/500.html", message=None), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(NotFound, not_found)
    app.register_error_handler(HttpNotFound, not_found)
    app.register_error_handler(ValidationError, invalid)
    app.register_error_handler(CSRFError, stale_form)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(ConfigurationError, misconfigured)
    app.register_error_handler(InternalServerError, server_error)
    app.register_error_handler(OperationalError, database_away)
    app.register_error_handler(InterfaceError, database_away)
