"""Sign in with Google or Microsoft (OAuth2), and the one place access tokens come from.

The sign-in is the authorization-code flow with PKCE (S256) and a random
state: `start_authorization` gives the provider's URL to send the browser to,
`finish_authorization` trades the code that comes back for tokens, and
`connect_oauth_mailbox` stores them, encrypted like a password, on the user's
mailbox. The provider's IMAP and SMTP servers are filled in from its settings.

Every process that logs in to such a mailbox (the worker sending, the poller,
the connection test) asks `AccessTokens` (or `access_token_for`) for the
access token. The stored token is used while it has more than REFRESH_MARGIN
left; otherwise it is refreshed, by one process at a time: the refresher holds
a lease on the mailbox row (oauth_refresh_lock_until, taken by compare-and-set),
and the others wait for it and read what it stored. A refresh token that the
provider rotates is stored at once.

When the provider refuses the refresh token (invalid_grant: revoked, expired,
password changed), only the user can fix it: the mailbox becomes NEEDS_SIGN_IN,
its sending pauses, and SignInRequired is raised. Nothing queued is lost.

Tokens are never logged, printed or put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach.accounts import normalise_email
from outreach.config import OAuthClientSettings, Settings
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import MailboxAuthFailed, OutreachError, ValidationError
from outreach.mail import ServerLogin
from outreach.mail.tls import client_context
from outreach.models import (
    AuthMethod,
    Mailbox,
    MailboxStatus,
    Message,
    MessageStatus,
    TlsMode,
    User,
)

# A stored access token is refreshed when less than this is left of it.
REFRESH_MARGIN = timedelta(minutes=5)
# How long one process may hold the refresh lease; longer than HTTP_TIMEOUT, so a
# live holder always finishes first, and a dead one is replaced after it.
REFRESH_LEASE = timedelta(seconds=60)
HTTP_TIMEOUT = 30.0
# How often a process waiting for another's refresh reads the row again.
_WAIT_STEP = 0.1

LABELS = {"google": "Google", "microsoft": "Microsoft"}
SCOPES: dict[str, tuple[str, ...]] = {
    "google": ("https://mail.google.com/", "openid", "email"),
    "microsoft": (
        "offline_access",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "openid",
        "email",
    ),
}

T = TypeVar("T")


class OAuthError(OutreachError):
    """The sign-in or a token refresh failed; the message is a sentence for the user."""


class SignInRequired(OAuthError):
    """The provider no longer accepts the grant (revoked, expired): the user must sign in again."""


@dataclass(frozen=True)
class OAuthProvider:
    """One configured provider: the app registration, its endpoints and its mail servers."""

    name: str  # "google" | "microsoft"
    label: str  # "Google" | "Microsoft"
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    userinfo_url: str | None  # where the address is read; None: from the id_token
    scopes: tuple[str, ...]
    imap_host: str
    imap_port: int
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_tls: TlsMode

    def __repr__(self) -> str:
        # The client secret stays out of logs and tracebacks.
        return f"OAuthProvider({self.name!r}, client_id={self.client_id!r})"

    @classmethod
    def from_settings(cls, client: OAuthClientSettings) -> OAuthProvider:
        return cls(
            name=client.provider,
            label=LABELS.get(client.provider, client.provider.title()),
            client_id=client.client_id,
            client_secret=client.client_secret,
            authorize_url=client.authorize_url,
            token_url=client.token_url,
            revoke_url=client.revoke_url,
            userinfo_url=client.userinfo_url,
            scopes=SCOPES.get(client.provider, ("openid", "email")),
            imap_host=client.imap.host,
            imap_port=client.imap.port,
            imap_tls=TlsMode(client.imap.tls),
            smtp_host=client.smtp.host,
            smtp_port=client.smtp.port,
            smtp_tls=TlsMode(client.smtp.tls),
        )


def configured_providers(settings: Settings) -> dict[str, OAuthProvider]:
    """The providers this instance can sign in with: those given a client id."""
    return {
        client.provider: OAuthProvider.from_settings(client)
        for client in settings.oauth_clients
        if client.client_id
    }


# --- the sign-in ---------------------------------------------------------------------------


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


def _verify(ca_file: str | Path | None) -> ssl.SSLContext | bool:
    return client_context(Path(ca_file)) if ca_file else True


def _post_token(
    provider: OAuthProvider, form: dict[str, str], ca_file: str | Path | None
) -> dict[str, Any]:
    """POST to the token endpoint; the answer's JSON, or OAuthError in words.

    invalid_grant (the code or the refresh token is no longer good) is raised as
    SignInRequired; the caller decides what that means for it.
    """
    data = {**form, "client_id": provider.client_id, "client_secret": provider.client_secret}
    try:
        with httpx.Client(verify=_verify(ca_file), timeout=HTTP_TIMEOUT) as client:
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


def _expires_at(body: Mapping[str, Any], now: datetime) -> datetime:
    try:
        seconds = int(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        seconds = 3600
    return now + timedelta(seconds=max(seconds, 0))


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
            with httpx.Client(verify=_verify(ca_file), timeout=HTTP_TIMEOUT) as client:
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
        body = _post_token(
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
        expires_at=_expires_at(body, now),
        email=_signed_in_address(provider, body, ca_file),
    )


def connect_oauth_mailbox(
    session: Session,
    box: SecretBox,
    user: User,
    provider: OAuthProvider,
    grant: Grant,
    now: datetime,
) -> Mailbox:
    """Create or update the user's mailbox for `grant.email`, signed in with OAuth2.

    Tokens are stored encrypted; the servers come from the provider; the
    mailbox is OK again and its sending resumes. An existing mailbox keeps its
    pace, Sent folder, sync position and messages; a password it had is
    replaced by nothing, since it is no longer used. Messages held back while it
    could not log in are made due again.
    """
    address = normalise_email(grant.email)
    mailbox = session.scalar(
        select(Mailbox).where(Mailbox.user_id == user.id, Mailbox.email_address == address)
    )
    if mailbox is None:
        mailbox = Mailbox(
            user_id=user.id,
            email_address=address,
            display_name=user.name,
            secret_encrypted=box.encrypt(""),
        )
        session.add(mailbox)
    elif mailbox.auth_method is not AuthMethod.OAUTH2:
        mailbox.secret_encrypted = box.encrypt("")
    mailbox.auth_method = AuthMethod.OAUTH2
    mailbox.oauth_provider = provider.name
    mailbox.username = address
    mailbox.imap_host, mailbox.imap_port, mailbox.imap_tls = (
        provider.imap_host,
        provider.imap_port,
        provider.imap_tls,
    )
    mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_tls = (
        provider.smtp_host,
        provider.smtp_port,
        provider.smtp_tls,
    )
    mailbox.oauth_refresh_encrypted = box.encrypt(grant.refresh_token)
    mailbox.oauth_access_encrypted = box.encrypt(grant.access_token)
    mailbox.oauth_access_expires_at = grant.expires_at
    mailbox.oauth_refresh_lock_until = None
    mailbox.status = MailboxStatus.OK
    mailbox.last_error = None
    mailbox.sending_paused = False
    session.flush()
    session.execute(
        update(Message)
        .where(
            Message.mailbox_id == mailbox.id,
            Message.status == MessageStatus.QUEUED,
            Message.next_attempt_at.is_not(None),
        )
        .values(next_attempt_at=None, waiting_reason=None)
        .execution_options(synchronize_session=False)
    )
    return mailbox


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
        with httpx.Client(verify=_verify(ca_file), timeout=HTTP_TIMEOUT) as client:
            response = client.post(
                provider.revoke_url,
                data={"token": token, "token_type_hint": "refresh_token"},
                auth=(provider.client_id, provider.client_secret),
            )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


# --- access tokens for the processes ------------------------------------------------------


def sign_in_again(provider_label: str) -> str:
    """What the dashboard and the CLI say when only a new sign-in helps."""
    return f"{provider_label} no longer accepts this sign-in: sign in again on the Mailbox page"


def mark_sign_in_required(
    factory: sessionmaker[Session], mailbox_id: int, provider_label: str, detail: str = ""
) -> SignInRequired:
    """Record that only a new sign-in helps: NEEDS_SIGN_IN, sending paused, lease freed.

    Returns the SignInRequired to raise. Queued messages are not touched: they
    wait, and go out once the user has signed in again.
    """
    message = sign_in_again(provider_label)
    stored = f"{message} ({detail})" if detail else message
    with session_scope(factory) as session:
        session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id)
            .values(
                status=MailboxStatus.NEEDS_SIGN_IN,
                last_error=stored,
                sending_paused=True,
                oauth_access_encrypted=None,
                oauth_access_expires_at=None,
                oauth_refresh_lock_until=None,
            )
            .execution_options(synchronize_session=False)
        )
    return SignInRequired(message)


def _usable(mailbox: Mailbox, box: SecretBox, moment: datetime, rejected: str | None) -> str:
    """The stored access token if it has more than the margin left and was not refused."""
    if mailbox.oauth_access_encrypted is None or mailbox.oauth_access_expires_at is None:
        return ""
    if mailbox.oauth_access_expires_at - REFRESH_MARGIN <= moment:
        return ""
    token = box.decrypt(mailbox.oauth_access_encrypted)
    return "" if token == rejected else token


def _read(session: Session, mailbox_id: int, provider: OAuthProvider) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise OAuthError("the mailbox is gone")
    if mailbox.auth_method is not AuthMethod.OAUTH2 or not mailbox.oauth_refresh_encrypted:
        raise OAuthError(f"{mailbox.email_address} is not signed in with {provider.label}")
    if mailbox.status is MailboxStatus.NEEDS_SIGN_IN:
        raise SignInRequired(sign_in_again(provider.label))
    return mailbox


def access_token_for(
    factory: sessionmaker[Session],
    box: SecretBox,
    mailbox_id: int,
    provider: OAuthProvider,
    now: datetime,
    ca_file: str | Path | None = None,
    rejected: str | None = None,
) -> str:
    """A valid access token for the mailbox, refreshed by one process at a time.

    `rejected` is a token a mail server just refused: it is not returned again,
    a new one is fetched (unless another process already did).

    :raise SignInRequired: the grant is gone; the mailbox is marked NEEDS_SIGN_IN.
    :raise OAuthError: the provider could not be reached or failed; try later.
    """
    started = time.monotonic()

    def moment() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    while True:
        with session_scope(factory) as session:
            token = _usable(_read(session, mailbox_id, provider), box, moment(), rejected)
        if token:
            return token
        lease_until = moment() + REFRESH_LEASE
        with session_scope(factory) as session:
            taken = session.execute(
                update(Mailbox)
                .where(
                    Mailbox.id == mailbox_id,
                    or_(
                        Mailbox.oauth_refresh_lock_until.is_(None),
                        Mailbox.oauth_refresh_lock_until <= moment(),
                    ),
                )
                .values(oauth_refresh_lock_until=lease_until)
                .execution_options(synchronize_session=False)
            )
            won = getattr(taken, "rowcount", 0) == 1
        if won:
            break
        # Another process is refreshing: wait for it, then use what it stored.
        if time.monotonic() - started > 2 * REFRESH_LEASE.total_seconds():
            raise OAuthError(
                f"the token from {provider.label} is taking too long to renew; "
                "please try again in a moment"
            )
        time.sleep(_WAIT_STEP)

    try:
        with session_scope(factory) as session:
            mailbox = _read(session, mailbox_id, provider)
            # Someone may have refreshed between our read and our lease.
            token = _usable(mailbox, box, moment(), rejected)
            refresh_token = box.decrypt(mailbox.oauth_refresh_encrypted or "")
        if not token:
            return _refresh(factory, box, mailbox_id, provider, refresh_token, now, ca_file)
        return token
    finally:
        with session_scope(factory) as session:
            session.execute(
                update(Mailbox)
                .where(Mailbox.id == mailbox_id, Mailbox.oauth_refresh_lock_until == lease_until)
                .values(oauth_refresh_lock_until=None)
                .execution_options(synchronize_session=False)
            )


def _refresh(
    factory: sessionmaker[Session],
    box: SecretBox,
    mailbox_id: int,
    provider: OAuthProvider,
    refresh_token: str,
    now: datetime,
    ca_file: str | Path | None,
) -> str:
    try:
        body = _post_token(
            provider, {"grant_type": "refresh_token", "refresh_token": refresh_token}, ca_file
        )
    except SignInRequired as error:
        raise mark_sign_in_required(factory, mailbox_id, provider.label, str(error)) from None
    access_token = str(body["access_token"])
    values: dict[str, Any] = {
        "oauth_access_encrypted": box.encrypt(access_token),
        "oauth_access_expires_at": _expires_at(body, now),
    }
    rotated = body.get("refresh_token")
    if isinstance(rotated, str) and rotated and rotated != refresh_token:
        # The old one may already be dead: keep the new one, or the grant is lost.
        values["oauth_refresh_encrypted"] = box.encrypt(rotated)
    with session_scope(factory) as session:
        session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return access_token


class AccessTokens:
    """Access tokens for OAuth2 mailboxes, as the worker, the poller and the checks need them.

    Built once per process from its settings (`from_settings`); holds no token itself.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        box: SecretBox,
        providers: Mapping[str, OAuthProvider],
        ca_file: str | Path | None = None,
    ) -> None:
        self.factory = factory
        self.box = box
        self.providers = dict(providers)
        self.ca_file = ca_file

    @classmethod
    def from_settings(
        cls, settings: Settings, factory: sessionmaker[Session], box: SecretBox | None = None
    ) -> AccessTokens:
        return cls(
            factory,
            box or SecretBox(settings.encryption_keys),
            configured_providers(settings),
            settings.ca_file,
        )

    def provider(self, name: str | None) -> OAuthProvider:
        """:raise OAuthError: when this instance has no app registration for it (any more)."""
        provider = self.providers.get(name or "")
        if provider is None:
            label = LABELS.get(name or "", name or "OAuth2")
            raise OAuthError(
                f"signing in with {label} is not configured on this Outreach "
                f"(OUTREACH_{(name or 'provider').upper()}_CLIENT_ID); ask whoever runs it"
            )
        return provider

    def token(
        self, mailbox_id: int, provider_name: str | None, now: datetime, rejected: str | None = None
    ) -> str:
        """See `access_token_for`."""
        provider = self.provider(provider_name)
        return access_token_for(
            self.factory, self.box, mailbox_id, provider, now, self.ca_file, rejected
        )

    def login_with(
        self,
        mailbox_id: int,
        provider_name: str | None,
        login: ServerLogin,
        clock: Callable[[], datetime],
        attempt: Callable[[ServerLogin], T],
    ) -> T:
        """Run `attempt` (which logs in) with the mailbox's access token.

        A server that refuses a token the provider still vouches for gets one
        fresh token and a second try (tokens can be revoked early); if it
        refuses that too, the mailbox needs a new sign-in.

        :raise SignInRequired: the grant is gone, or the server refuses every token.
        :raise OAuthError: the provider could not be reached; try later.
        """
        token = self.token(mailbox_id, provider_name, clock())
        try:
            return attempt(replace(login, access_token=token))
        except MailboxAuthFailed:
            pass
        fresh = self.token(mailbox_id, provider_name, clock(), rejected=token)
        try:
            return attempt(replace(login, access_token=fresh))
        except MailboxAuthFailed as error:
            label = self.provider(provider_name).label
            raise mark_sign_in_required(self.factory, mailbox_id, label, str(error)) from None
