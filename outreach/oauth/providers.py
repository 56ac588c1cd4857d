"""The OAuth2 providers this instance can sign in with, from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.config import OAuthClientSettings, Settings
from outreach.mail import MailServers
from outreach.mail.presets import oauth_servers

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


@dataclass(frozen=True, kw_only=True)
class OAuthProvider(MailServers):
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

    def __repr__(self) -> str:
        # The client secret stays out of logs and tracebacks.
        return f"OAuthProvider({self.name!r}, client_id={self.client_id!r})"

    @classmethod
    def from_settings(cls, client: OAuthClientSettings) -> OAuthProvider:
        usual = oauth_servers(client.provider)
        return cls.joining(
            client.imap or usual.imap,
            client.smtp or usual.smtp,
            name=client.provider,
            label=LABELS.get(client.provider, client.provider.title()),
            client_id=client.client_id,
            client_secret=client.client_secret,
            authorize_url=client.authorize_url,
            token_url=client.token_url,
            revoke_url=client.revoke_url,
            userinfo_url=client.userinfo_url,
            scopes=SCOPES.get(client.provider, ("openid", "email")),
        )


def configured_providers(settings: Settings) -> dict[str, OAuthProvider]:
    """The providers this instance can sign in with: those given a client id."""
    return {
        client.provider: OAuthProvider.from_settings(client)
        for client in settings.oauth_clients
        if client.client_id
    }
