"""The security headers every response carries."""

from __future__ import annotations

from flask import Response

# Inbound mail is hostile text. Autoescaping keeps it inert; this policy is the
# second wall: no inline script, no foreign origin, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response: Response) -> Response:
    """Set the headers a view has not set itself (the OAuth pages widen form-action)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
