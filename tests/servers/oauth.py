"""A small OAuth2 authorization server on 127.0.0.1, built with authlib, for the tests.

It stands in for Google's and Microsoft's sign-in. Plain http on 127.0.0.1 (Outreach
accepts http:// endpoints only on this machine). A Flask app served by werkzeug in a
thread of the test process; each endpoint is authlib's own implementation:

- GET  /authorize   the consent page: a plain HTML form with inputs name="username" and
                    name="password", and buttons id="allow" ("Allow access") and id="deny".
                    Authorization code grant, PKCE required with S256 (RFC 7636); redirect
                    URIs only on 127.0.0.1 / localhost. `login_hint` fills in the username.
- POST /token       authorization_code and refresh_token grants; refresh tokens rotate (the
                    old one dies when a new one is issued). With "openid" in the scope the
                    code grant also answers an id_token (HS256 with the client secret) that
                    holds the email, as Microsoft's does.
- POST /revoke      RFC 7009 token revocation (the app's client credentials).
- POST /introspect  RFC 7662 introspection: {"active", "username", "email", "scope", "exp",
                    ...}; the app's client or the resource servers' client (Dovecot, the
                    test SMTP server) may ask, with HTTP Basic credentials.
- GET  /userinfo    {"sub", "email", "email_verified"} for an active Bearer access token.

Python API (the session fixture `oauth_server` in tests/servers/fixtures.py):
    base_url, authorize_url, token_url, revoke_url, introspect_url, userinfo_url,
    client_id, client_secret, resource_client_id, resource_client_secret
    add_account(email, password)          an account that can consent
    issue_tokens(email) -> (access, refresh)  tokens as if the user had consented
    revoke_account(email)                 revokes every token of that account
    revoke_access_token(token)            ends one access token, its refresh token stays good
    set_access_token_lifetime(seconds)    for tokens issued from now on
    token_delay                           seconds /token waits before answering (races)
    token_requests                        how many requests reached /token
    env(provider, imap="", smtp="")       OUTREACH_<P>_* variables pointing at this server
    reset()                               default lifetime and delay again
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Error,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .net import LOOPBACK, free_port

DEFAULT_LIFETIME = 3600
_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    # The resource servers' client may only introspect; it never gets tokens.
    can_get_tokens: bool = True

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        return parts.scheme in {"http", "https"} and parts.hostname in _LOOPBACK_HOSTS

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in _AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return self.can_get_tokens and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return self.can_get_tokens and grant_type in {"authorization_code", "refresh_token"}


@dataclass
class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    email: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class _Token(TokenMixin):  # type: ignore[misc]
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    email: str
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return bool(client.client_id == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> str:
        return self.email

    def get_client(self) -> None:
        return None


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request would only bury the test output


class OAuthServer:
    """The authorization server; start() it, stop() it. Thread-safe."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = 0
        self.client_id = "outreach-test-client"
        self.client_secret = secrets.token_urlsafe(24)
        self.resource_client_id = "mail-servers"
        self.resource_client_secret = secrets.token_urlsafe(24)
        self.token_delay = 0.0
        self._lifetime = DEFAULT_LIFETIME
        self._lock = threading.RLock()
        self._accounts: dict[str, str] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: list[_Token] = []
        self._token_requests = 0
        self._clients = {
            self.client_id: _Client(self.client_id, self.client_secret),
            self.resource_client_id: _Client(
                self.resource_client_id, self.resource_client_secret, can_get_tokens=False
            ),
        }
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = self._make_app()

    # --- the Python API ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def introspect_url(self) -> str:
        return f"{self.base_url}/introspect"

    @property
    def userinfo_url(self) -> str:
        return f"{self.base_url}/userinfo"

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    def add_account(self, email: str, password: str) -> None:
        with self._lock:
            self._accounts[email.lower()] = password

    def issue_tokens(self, email: str) -> tuple[str, str]:
        """An access and a refresh token for `email`, as if it had consented just now."""
        with self._lock:
            if email.lower() not in self._accounts:
                raise KeyError(f"no account {email} on the test authorization server")
            token = _Token(
                access_token=secrets.token_urlsafe(32),
                refresh_token=secrets.token_urlsafe(40),
                client_id=self.client_id,
                scope="https://mail.google.com/ openid email",
                email=email.lower(),
                expires_in=self._lifetime,
            )
            self._tokens.append(token)
            assert token.refresh_token is not None
            return token.access_token, token.refresh_token

    def revoke_account(self, email: str) -> None:
        """Revoke every token of the account, as when the user removes the app's access."""
        with self._lock:
            for token in self._tokens:
                if token.email == email.lower():
                    token.access_revoked = token.refresh_revoked = True

    def revoke_access_token(self, access_token: str) -> None:
        """End one access token early, leaving its refresh token good (a server-side logout)."""
        with self._lock:
            token = self._find(access_token=access_token)
            if token is not None:
                token.access_revoked = True

    def set_access_token_lifetime(self, seconds: int) -> None:
        with self._lock:
            self._lifetime = int(seconds)

    def reset(self) -> None:
        with self._lock:
            self._lifetime = DEFAULT_LIFETIME
            self.token_delay = 0.0

    def introspect(self, access_token: str) -> dict[str, Any]:
        """What /introspect answers for this token (without HTTP), for assertions."""
        with self._lock:
            token = self._find(access_token=access_token)
            if token is None or token.is_expired() or token.is_revoked():
                return {"active": False}
            return self._introspection(token)

    def env(self, provider: str, imap: str = "", smtp: str = "") -> dict[str, str]:
        """OUTREACH_<PROVIDER>_* settings that point `provider` at this server.

        For "microsoft" no userinfo URL is set: the address comes from the
        id_token, as with the real Microsoft. `imap` / `smtp` ("host:port:tls")
        point its mail servers at the test Dovecot and SMTP server.
        """
        prefix = f"OUTREACH_{provider.upper()}_"
        values = {
            prefix + "CLIENT_ID": self.client_id,
            prefix + "CLIENT_SECRET": self.client_secret,
            prefix + "AUTHORIZE_URL": self.authorize_url,
            prefix + "TOKEN_URL": self.token_url,
            prefix + "REVOKE_URL": self.revoke_url,
        }
        if provider != "microsoft":
            values[prefix + "USERINFO_URL"] = self.userinfo_url
        if imap:
            values[prefix + "IMAP"] = imap
        if smtp:
            values[prefix + "SMTP"] = smtp
        return values

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the authorization server is already running")
        self.port = free_port()
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="oauth-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- storage, called by authlib -------------------------------------------------------

    def _find(
        self, access_token: str | None = None, refresh_token: str | None = None
    ) -> _Token | None:
        for token in self._tokens:
            if access_token is not None and token.access_token == access_token:
                return token
            if refresh_token is not None and token.refresh_token == refresh_token:
                return token
        return None

    def _introspection(self, token: _Token) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "username": token.email,
            "email": token.email,
            "sub": token.email,
            "scope": token.scope,
            "iat": int(token.issued_at),
            "exp": int(token.issued_at + token.expires_in),
        }

    def _id_token(self, email: str) -> str:
        def part(data: dict[str, Any]) -> bytes:
            raw = json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=")

        now = int(time.time())
        claims = {
            "iss": self.base_url,
            "sub": email,
            "aud": self.client_id,
            "email": email,
            "preferred_username": email,
            "iat": now,
            "exp": now + 3600,
        }
        signing_input = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims)
        digest = hmac.new(self.client_secret.encode(), signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + base64.urlsafe_b64encode(digest).rstrip(b"=")).decode()

    def _save_token(self, token: dict[str, Any], oauth_request: Any) -> None:
        with self._lock:
            email = str(oauth_request.user)
            self._tokens.append(
                _Token(
                    access_token=token["access_token"],
                    refresh_token=token.get("refresh_token"),
                    client_id=oauth_request.client.client_id,
                    scope=token.get("scope", ""),
                    email=email,
                    expires_in=int(token.get("expires_in", self._lifetime)),
                )
            )
            code = getattr(oauth_request, "authorization_code", None)
            if code is not None and "openid" in str(token.get("scope", "")).split():
                # Added to the dict authlib is about to answer with.
                token["id_token"] = self._id_token(email)

    def _make_app(self) -> Flask:
        server_self = self
        app = Flask("outreach-test-oauth")
        authorization = AuthorizationServer(
            app,
            query_client=lambda client_id: self._clients.get(client_id),
            save_token=self._save_token,
        )

        def make_access_token(**_: Any) -> str:
            return secrets.token_urlsafe(32)

        def make_refresh_token(**_: Any) -> str:
            return secrets.token_urlsafe(40)

        def expires_in(client: Any, grant_type: str) -> int:
            with self._lock:
                return self._lifetime

        authorization.register_token_generator(
            "default", BearerTokenGenerator(make_access_token, make_refresh_token, expires_in)
        )

        class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS

            def save_authorization_code(self, code: str, oauth_request: Any) -> None:
                data = oauth_request.payload.data
                with server_self._lock:
                    server_self._codes[code] = _Code(
                        code=code,
                        client_id=oauth_request.client.client_id,
                        redirect_uri=oauth_request.payload.redirect_uri or "",
                        scope=oauth_request.scope or "",
                        email=str(oauth_request.user),
                        code_challenge=data.get("code_challenge"),
                        code_challenge_method=data.get("code_challenge_method"),
                    )

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                with server_self._lock:
                    item = server_self._codes.get(code)
                if item is None or item.client_id != client.client_id:
                    return None
                if time.time() - item.issued_at > 600:
                    return None
                return item

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                with server_self._lock:
                    server_self._codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> str:
                return authorization_code.email

        class RotatingRefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
                with server_self._lock:
                    token = server_self._find(refresh_token=refresh_token)
                if token is None or token.refresh_revoked:
                    return None
                return token

            def authenticate_user(self, refresh_token: _Token) -> str:
                return refresh_token.email

            def revoke_old_credential(self, refresh_token: _Token) -> None:
                with server_self._lock:
                    refresh_token.refresh_revoked = True

        class S256Required(CodeChallenge):  # type: ignore[misc]
            SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

            def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
                data = grant.request.payload.data
                if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
                    raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
                super().validate_code_challenge(grant, redirect_uri)

        class Revocation(RevocationEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = _AUTH_METHODS

            def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
                with server_self._lock:
                    return server_self._find(access_token=token_string) or server_self._find(
                        refresh_token=token_string
                    )

            def revoke_token(self, token: _Token, oauth_request: Any) -> None:
                # As at Google: revoking either token ends the whole grant.
                with server_self._lock:
                    token.access_revoked = token.refresh_revoked = True

        class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = _AUTH_METHODS

            def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
                with server_self._lock:
                    return server_self._find(access_token=token_string)

            def check_permission(self, token: _Token, client: _Client, oauth_request: Any) -> bool:
                return client.client_id in {server_self.resource_client_id, token.client_id}

            def introspect_token(self, token: _Token) -> dict[str, Any]:
                return server_self._introspection(token)

        authorization.register_grant(CodeGrant, [S256Required(required=True)])
        authorization.register_grant(RotatingRefreshGrant)
        authorization.register_endpoint(Revocation)
        authorization.register_endpoint(Introspection)

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            try:
                grant = authorization.get_consent_grant(end_user=None)
            except OAuth2Error as error:
                body = f"<h1>Invalid sign-in request</h1><p>{html.escape(error.error)}</p>"
                return Response(body, status=400, mimetype="text/html")
            if request.method == "GET":
                return _consent_page(request.args.get("login_hint", ""), "")
            if request.form.get("action") != "allow":
                return authorization.create_authorization_response(grant_user=None, grant=grant)
            email = request.form.get("username", "").strip().lower()
            password = request.form.get("password", "")
            with self._lock:
                known = self._accounts.get(email)
            if known is None or not hmac.compare_digest(known, password):
                return _consent_page(email, "Wrong email address or password.")
            return authorization.create_authorization_response(grant_user=email, grant=grant)

        @app.route("/token", methods=["POST"])
        def token() -> Any:
            with self._lock:
                self._token_requests += 1
                delay = self.token_delay
            if delay:
                time.sleep(delay)
            return authorization.create_token_response()

        @app.route("/revoke", methods=["POST"])
        def revoke() -> Any:
            return authorization.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)

        @app.route("/introspect", methods=["POST"])
        def introspect() -> Any:
            return authorization.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)

        @app.route("/userinfo")
        def userinfo() -> Any:
            header = request.headers.get("Authorization", "")
            answer = self.introspect(header[7:]) if header.startswith("Bearer ") else {}
            if not answer.get("active"):
                return Response(
                    json.dumps({"error": "invalid_token"}),
                    status=401,
                    mimetype="application/json",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            email = answer["email"]
            return {"sub": email, "email": email, "email_verified": True}

        return app


def _consent_page(username: str, problem: str) -> Response:
    """The consent form; it posts back to the same URL, so the request's query stays."""
    notice = f'<p class="error" role="alert">{html.escape(problem)}</p>' if problem else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test sign-in</title></head>
<body>
<h1>Sign in to the test provider</h1>
<p>Outreach asks to read and send mail as you.</p>
{notice}
<form method="post">
  <label>Email <input name="username" type="email" value="{html.escape(username)}"></label>
  <label>Password <input name="password" type="password"></label>
  <button id="allow" name="action" value="allow" type="submit">Allow access</button>
  <button id="deny" name="action" value="deny" type="submit">Deny</button>
</form>
</body></html>"""
    return Response(page, status=200, mimetype="text/html")


def start_oauth_server() -> OAuthServer:
    server = OAuthServer()
    server.start()
    return server
