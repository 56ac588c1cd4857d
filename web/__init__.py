"""The Flask dashboard: a thin edge over the `outreach` core.

A view parses its form, calls one core use case, commits, flashes a sentence
and redirects (or renders). Everything else lives in `outreach/`. The app is
built by `web.app.create_app`; production servers load `web.wsgi:app`.
"""
