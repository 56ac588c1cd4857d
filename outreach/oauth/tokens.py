"""The token store: OAuth2 grants kept on mailboxes, and the one place access tokens come from.

`connect_oauth_mailbox` stores a finished sign-in on the user's mailbox,
encrypted like a password. Every process that logs in to such a mailbox (the
worker sending, the poller, the Sent-copy check, the connection test) asks
`AccessTokens` (or `access_token_for`) for the access token. The stored token is
used while it has more than REFRESH_MARGIN left; otherwise it is refreshed, by
one process at a time: the refresher holds a lease on the mailbox row
(oauth_refresh_lock_until, taken by compare-and-set), and the others wait for it
and read what it stored. A refresh token that the provider rotates is stored at once.

When the provider refuses the refresh token (invalid_grant: revoked, expired,
password changed), only the user can fix it: the mailbox becomes NEEDS_SIGN_IN,
its sending pauses, and SignInRequired is raised. Nothing queued is lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach.accounts import make_held_messages_due, normalise_email, set_servers
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import compare_and_set, session_scope
from outreach.errors import OAuthError, SignInRequired
from outreach.models import AuthMethod, Mailbox, MailboxStatus, User
from outreach.oauth.flow import Grant
from outreach.oauth.providers import LABELS, OAuthProvider, configured_providers
from outreach.oauth.token_endpoint import expires_at, post_token

# A stored access token is refreshed when less than this is left of it.
REFRESH_MARGIN = timedelta(minutes=5)
# How long one process may hold the refresh lease; longer than HTTP_TIMEOUT, so a
# live holder always finishes first, and a dead one is replaced after it.
REFRESH_LEASE = timedelta(seconds=60)
# How often a process waiting for another's refresh reads the row again.
_WAIT_STEP = 0.1


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
    set_servers(mailbox, provider)
    mailbox.oauth_refresh_encrypted = box.encrypt(grant.refresh_token)
    mailbox.oauth_access_encrypted = box.encrypt(grant.access_token)
    mailbox.oauth_access_expires_at = grant.expires_at
    mailbox.oauth_refresh_lock_until = None
    mailbox.status = MailboxStatus.OK
    mailbox.last_error = None
    mailbox.sending_paused = False
    session.flush()
    make_held_messages_due(session, mailbox.id, forget_reason=True)
    return mailbox


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
            won = compare_and_set(
                session,
                update(Mailbox)
                .where(
                    Mailbox.id == mailbox_id,
                    or_(
                        Mailbox.oauth_refresh_lock_until.is_(None),
                        Mailbox.oauth_refresh_lock_until <= moment(),
                    ),
                )
                .values(oauth_refresh_lock_until=lease_until),
            )
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
        body = post_token(
            provider, {"grant_type": "refresh_token", "refresh_token": refresh_token}, ca_file
        )
    except SignInRequired as error:
        raise mark_sign_in_required(factory, mailbox_id, provider.label, str(error)) from None
    access_token = str(body["access_token"])
    values: dict[str, Any] = {
        "oauth_access_encrypted": box.encrypt(access_token),
        "oauth_access_expires_at": expires_at(body, now),
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
    outreach.mailbox_login logs in with them.
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

    def sign_in_required(
        self, mailbox_id: int, provider_name: str | None, detail: str
    ) -> SignInRequired:
        """See `mark_sign_in_required`: for a mailbox whose servers refuse every token."""
        label = self.provider(provider_name).label
        return mark_sign_in_required(self.factory, mailbox_id, label, detail)
