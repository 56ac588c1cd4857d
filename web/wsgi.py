"""The WSGI entry point for production servers: `gunicorn web.wsgi:app`.

Settings come from the OUTREACH_* environment when the server imports this module.
"""

from __future__ import annotations

from web.app import create_app

app = create_app()
