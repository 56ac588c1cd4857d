"""Access logs without OAuth codes: the callback's query string is cut from every log line.

The provider sends the browser back to /mailboxes/oauth/<provider>/callback?code=...&state=...
A code is single-use and short-lived, but with the state and the PKCE verifier it
is a grant; it has no business in a log file that outlives it. gunicorn (the
`outreach web` server and the compose file's) logs through `RedactingLogger`;
werkzeug's development server, which the browser tests use, through the filter.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# The callback's path, then its query string up to the end of the URL as a log line shows it;
# also percent-encoded, as when the URL is itself a parameter of another.
_CALLBACK_QUERY = re.compile(
    r"(/mailboxes/oauth/[^/?#\s\"]+/callback)\?[^\s\"#]*"
    r"|(%2Fmailboxes%2Foauth%2F[^%\s\"&]+%2Fcallback)%3F[^\s\"&#]*",
    re.IGNORECASE,
)
_CALLBACK_PATH = re.compile(r"(?:.*/)?mailboxes/oauth/[^/]+/callback")


def redact(text: str) -> str:
    """`text` with the query string of every OAuth callback URL in it replaced."""
    return _CALLBACK_QUERY.sub(
        lambda found: f"{found[1]}?{REDACTED}" if found[1] else f"{found[2]}%3F{REDACTED}", text
    )


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the OAuth callback's query string left out of the access log.

    Use it with `gunicorn --logger-class web.access_log.RedactingLogger`.
    """

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        is_callback = bool(_CALLBACK_PATH.fullmatch(str(environ.get("PATH_INFO", ""))))
        for key, value in atoms.items():
            if not isinstance(value, str):
                continue
            if is_callback and key in ("q", "{query_string}e"):
                atoms[key] = REDACTED
            else:
                atoms[key] = redact(value)
        return atoms


class RedactingFilter(logging.Filter):
    """For loggers that write request lines themselves (werkzeug's development server)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def quiet_werkzeug() -> None:
    """Filter werkzeug's request log (once, however many apps are made)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(item, RedactingFilter) for item in logger.filters):
        logger.addFilter(RedactingFilter())
