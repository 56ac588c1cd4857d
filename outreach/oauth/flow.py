"""The sign-in: the OAuth2 authorization-code flow with PKCE (S256) and a random state.

`start_authorization` gives the provider's URL to send the browser to, and
`finish_authorization` trades the code that comes back for tokens and learns
which address signed in; outreach.oauth.tokens then stores them. `revoke_grant`
asks the provider to forget a grant when the user disconnects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from outreach.accounts import normalise_email
from outreach.crypto import SecretBox
from outreach.errors import OAuthError, SignInRequired, ValidationError
from outreach.models import Mailbox
from outreach.oauth.providers import OAuthProvider
from outreach.oauth.token_endpoint import HTTP_TIMEOUT, expires_at, post_token, verify


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the browser, and what to keep (in the session) until it comes back."""

    url: str
    state: str
    code_verifier: str


def code_challenge(code_verifier: str) -> str:
    """PKCE S256: base64url(sha256(verifier)) without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start_authorization(
    provider: OAuthProvider, redirect_uri: str, login_hint: str = ""
) -> AuthorizationStart:
    """The provider's sign-in URL, with a fresh state and PKCE verifier.

    Google gives a refresh token only with access_type=offline, and again on a
    later sign-in only with prompt=consent; Microsoft gives one for offline_access.
    """
    state = secrets.token_urlsafe(32)
    # 64 random bytes -> 86 characters from the RFC 7636 alphabet (43 to 128 allowed).
    code_verifier = secrets.token_urlsafe(64)
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes),
        "state": state,
        "code_challenge": code_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    if provider.name == "google":
        params["access_type"] = "offline"
        params["prompt"] = "consent"
    if login_hint.strip():
        params["login_hint"] = login_hint.strip()
    separator = "&" if "?" in provider.authorize_url else "?"
    return AuthorizationStart(
        url=f"{provider.authorize_url}{separator}{urlencode(params)}",
        state=state,
        code_verifier=code_verifier,
    )


@dataclass(frozen=True)
class Grant:
    """What a finished sign-in gives: tokens, and the address that signed in."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    email: str

    def __repr__(self) -> str:
        return f"Grant(email={self.email!r}, expires_at={self.expires_at!r})"


def _id_token_claims(id_token: str, provider: OAuthProvider) -> dict[str, Any]:
    """The claims of an id_token that came straight from the token endpoint.

    Its signature is not checked: it reached us over TLS from the provider's
    token endpoint in answer to our own request, which OpenID Connect Core
    (3.1.3.7) accepts in place of the signature. The audience still must be us.
    """
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise OAuthError(f"{provider.label} sent an identity Outreach cannot read") from None
    if not isinstance(claims, dict):
        raise OAuthError(f"{provider.label} sent an identity Outreach cannot read")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise OAuthError(f"{provider.label} sent an identity meant for another application")
    return claims


def _signed_in_address(
    provider: OAuthProvider, body: Mapping[str, Any], ca_file: str | Path | None
) -> str:
    claims: Mapping[str, Any] = {}
    if provider.userinfo_url:
        try:
            with httpx.Client(verify=verify(ca_file), timeout=HTTP_TIMEOUT) as client:
                response = client.get(
                    provider.userinfo_url,
                    headers={"Authorization": f"Bearer {body['access_token']}"},
                )
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            raise OAuthError(
                f"{provider.label} did not say which address signed in; please try again"
            )
        claims = answer
    elif isinstance(body.get("id_token"), str):
        claims = _id_token_claims(body["id_token"], provider)
    # Microsoft work and school accounts often give the address only as the sign-in name.
    for key in ("email", "preferred_username", "upn"):
        value = claims.get(key)
        if isinstance(value, str) and "@" in value:
            try:
                return normalise_email(value)
            except ValidationError:
                continue
    raise OAuthError(
        f"{provider.label} did not say which address signed in; "
        "check that the app asks for the 'openid' and 'email' scopes"
    )


def finish_authorization(
    provider: OAuthProvider,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    now: datetime,
    ca_file: str | Path | None = None,
) -> Grant:
    """Trade the code from the redirect for tokens, and learn the signed-in address.

    :raise OAuthError: the provider refused (a wrong or reused code, a PKCE
        verifier that does not match) or gave no refresh token; in words.
    """
    if not code:
        raise OAuthError(f"{provider.label} sent no authorization code back; please try again")
    try:
        body = post_token(
            provider,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
            ca_file,
        )
    except SignInRequired as error:
        # At sign-in, invalid_grant is an expired, reused or tampered code: just a refusal.
        raise OAuthError(f"{error}; please sign in again") from None
    refresh_token = body.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise OAuthError(
            f"{provider.label} did not allow offline access, so Outreach could not keep "
            "the mailbox connected; please sign in again and allow access"
        )
    return Grant(
        access_token=str(body["access_token"]),
        refresh_token=refresh_token,
        expires_at=expires_at(body, now),
        email=_signed_in_address(provider, body, ca_file),
    )


def revoke_grant(
    provider: OAuthProvider, box: SecretBox, mailbox: Mailbox, ca_file: str | Path | None = None
) -> bool:
    """Ask the provider to forget the mailbox's grant (when it has a revocation endpoint).

    Best effort, for when the user disconnects a mailbox: returns whether the
    provider confirmed. The stored tokens are the caller's to delete.
    """
    if not provider.revoke_url or not mailbox.oauth_refresh_encrypted:
        return False
    token = box.decrypt(mailbox.oauth_refresh_encrypted)
    try:
        with httpx.Client(verify=verify(ca_file), timeout=HTTP_TIMEOUT) as client:
            response = client.post(
                provider.revoke_url,
                data={"token": token, "token_type_hint": "refresh_token"},
                auth=(provider.client_id, provider.client_secret),
            )
    except httpx.HTTPError:
        return False
    return response.status_code == 200
