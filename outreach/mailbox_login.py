"""Turning a stored mailbox into a logged-in IMAP or SMTP session: the one login path.

The sender, the poller and its IDLE watchers, the Sent-copy check and the
connection test all log in through `MailboxLogin`. A password mailbox logs in
with its stored password. An OAuth2 mailbox logs in with SASL XOAUTH2 and an
access token from outreach.oauth.tokens.AccessTokens, which renews it when due.
A server that refuses a token the provider still vouches for gets one fresh
token and a second try (tokens can be revoked early); if it refuses that too,
only a new sign-in helps: the mailbox becomes NEEDS_SIGN_IN and SignInRequired
is raised.

This sits above the two things it joins, the mail adapters (outreach.mail, which
know only the models) and the token store (outreach.oauth.tokens, which needs the
database and the encryption keys), so that neither has to know the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from outreach.crypto import SecretBox
from outreach.errors import MailboxAuthFailed, OAuthError
from outreach.mail import MailServer, ServerLogin
from outreach.models import AuthMethod, Mailbox
from outreach.oauth.tokens import AccessTokens

T = TypeVar("T")

# A process wired without AccessTokens meets an OAuth2 mailbox: nothing was tried.
NO_TOKENS = "this process cannot renew OAuth2 sign-ins; it was started without them"


def uses_oauth(mailbox: Mailbox) -> bool:
    """Whether the mailbox logs in with an OAuth2 access token rather than a password."""
    return mailbox.auth_method is AuthMethod.OAUTH2


def imap_login(mailbox: Mailbox, box: SecretBox) -> ServerLogin:
    """How to log in to the mailbox's IMAP server; an OAuth2 mailbox's holds no secret yet."""
    return _login(mailbox, box, MailServer(mailbox.imap_host, mailbox.imap_port, mailbox.imap_tls))


def smtp_login(mailbox: Mailbox, box: SecretBox) -> ServerLogin:
    """How to log in to the mailbox's SMTP server (see `imap_login`)."""
    return _login(mailbox, box, MailServer(mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_tls))


def _login(mailbox: Mailbox, box: SecretBox, server: MailServer) -> ServerLogin:
    # An OAuth2 mailbox has no password: MailboxLogin adds its access token.
    password = "" if uses_oauth(mailbox) else box.decrypt(mailbox.secret_encrypted)
    return ServerLogin(server.host, server.port, server.tls, mailbox.username, password)


@dataclass(frozen=True)
class MailboxLogin:
    """One server of a stored mailbox, ready to log in to once the database session is closed.

    Read from the row inside a transaction (`imap`, `smtp`) and used after it:
    a login may take seconds, and no transaction is held open meanwhile.
    """

    mailbox_id: int
    # The server and user name, with the password; never an access token.
    server: ServerLogin
    # The provider an OAuth2 mailbox signed in with; None for a password mailbox.
    oauth_provider: str | None

    @classmethod
    def imap(cls, mailbox: Mailbox, box: SecretBox) -> MailboxLogin:
        return cls(mailbox.id, imap_login(mailbox, box), _provider(mailbox))

    @classmethod
    def smtp(cls, mailbox: Mailbox, box: SecretBox) -> MailboxLogin:
        return cls(mailbox.id, smtp_login(mailbox, box), _provider(mailbox))

    def log_in(
        self,
        attempt: Callable[[ServerLogin], T],
        tokens: AccessTokens | None,
        clock: Callable[[], datetime],
    ) -> T:
        """Run `attempt`, which logs in with the ServerLogin it is given, and return its result.

        :raise SignInRequired: the grant is gone, or the server refuses every
            token; the mailbox is marked NEEDS_SIGN_IN.
        :raise OAuthError: the provider could not be reached (try later), or
            `tokens` is None for an OAuth2 mailbox.
        :raise MailboxError: as `attempt` raises it; MailboxAuthFailed only for a password.
        """
        if self.oauth_provider is None:
            return attempt(self.server)
        tokens = _needed(tokens)
        token = tokens.token(self.mailbox_id, self.oauth_provider, clock())
        try:
            return attempt(replace(self.server, access_token=token))
        except MailboxAuthFailed:
            pass
        fresh = tokens.token(self.mailbox_id, self.oauth_provider, clock(), rejected=token)
        try:
            return attempt(replace(self.server, access_token=fresh))
        except MailboxAuthFailed as error:
            detail = str(error)
        raise tokens.sign_in_required(self.mailbox_id, self.oauth_provider, detail)

    def current(self, tokens: AccessTokens | None, clock: Callable[[], datetime]) -> ServerLogin:
        """The server login with a current access token (renewed when due), not yet tried.

        For a connection made later or more than once (an IDLE watcher's), or
        one whose refusal is only reported; `log_in` otherwise.

        :raise OAuthError: as `log_in`, SignInRequired included.
        """
        if self.oauth_provider is None:
            return self.server
        token = _needed(tokens).token(self.mailbox_id, self.oauth_provider, clock())
        return replace(self.server, access_token=token)


def _provider(mailbox: Mailbox) -> str | None:
    return mailbox.oauth_provider if uses_oauth(mailbox) else None


def _needed(tokens: AccessTokens | None) -> AccessTokens:
    if tokens is None:
        raise OAuthError(NO_TOKENS)
    return tokens
