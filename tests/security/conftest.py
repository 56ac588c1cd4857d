"""The dashboard's fixtures (a signed-in browser with CSRF tokens) for the security tests."""

from tests.web.conftest import app, browser, client, signed_in, user

__all__ = ["app", "browser", "client", "signed_in", "user"]
