"""A provider's token endpoint over HTTPS: the one request both the sign-in and renewal make."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from outreach.errors import OAuthError, SignInRequired
from outreach.mail.tls import client_context
from outreach.oauth.providers import OAuthProvider

HTTP_TIMEOUT = 30.0


def verify(ca_file: str | Path | None) -> ssl.SSLContext | bool:
    """What httpx checks the provider's certificate with: the system's CAs, plus `ca_file`."""
    return client_context(Path(ca_file)) if ca_file else True


def post_token(
    provider: OAuthProvider, form: dict[str, str], ca_file: str | Path | None
) -> dict[str, Any]:
    """POST to the token endpoint; the answer's JSON, or OAuthError in words.

    invalid_grant (the code or the refresh token is no longer good) is raised as
    SignInRequired; the caller decides what that means for it.
    """
    data = {**form, "client_id": provider.client_id, "client_secret": provider.client_secret}
    try:
        with httpx.Client(verify=verify(ca_file), timeout=HTTP_TIMEOUT) as client:
            response = client.post(provider.token_url, data=data)
    except httpx.HTTPError as error:
        raise OAuthError(
            f"{provider.label} could not be reached to sign in ({type(error).__name__}); "
            "please try again in a moment"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OAuthError(
            f"{provider.label} gave an answer Outreach does not understand "
            f"(HTTP {response.status_code}); please try again in a moment"
        )
    if response.status_code != 200 or "error" in body:
        code = str(body.get("error") or f"HTTP {response.status_code}")
        # The description is the provider's own words; tokens never appear in it.
        description = " ".join(str(body.get("error_description") or "").split())[:300]
        detail = f"{code}: {description}" if description else code
        if code == "invalid_grant":
            raise SignInRequired(f"{provider.label} refused the sign-in ({detail})")
        if response.status_code >= 500:
            raise OAuthError(f"{provider.label} had a problem ({detail}); please try again later")
        raise OAuthError(
            f"{provider.label} refused the request ({detail}); check the app registration "
            "(client id, secret and redirect URL)"
        )
    if not body.get("access_token"):
        raise OAuthError(f"{provider.label} answered without an access token; please try again")
    return body


def expires_at(body: Mapping[str, Any], now: datetime) -> datetime:
    """When the access token in the endpoint's answer runs out (an hour when it does not say)."""
    try:
        seconds = int(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        seconds = 3600
    return now + timedelta(seconds=max(seconds, 0))
