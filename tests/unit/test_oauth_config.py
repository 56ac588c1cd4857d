"""OAuth2 provider settings and the sign-in URL: pure logic, no network."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from outreach.config import Settings
from outreach.errors import ConfigurationError
from outreach.models import TlsMode
from outreach.oauth.flow import code_challenge, start_authorization
from outreach.oauth.providers import configured_providers

REDIRECT = "https://outreach.example.org/mailboxes/oauth/callback"


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"OUTREACH_INSTANCE_DIR": str(tmp_path), **env})


def test_only_providers_with_a_client_id_are_offered(tmp_path: Path) -> None:
    assert configured_providers(settings(tmp_path)) == {}

    providers = configured_providers(
        settings(
            tmp_path,
            OUTREACH_MICROSOFT_CLIENT_ID="app-id",
            OUTREACH_MICROSOFT_CLIENT_SECRET="app-secret",
        )
    )

    assert list(providers) == ["microsoft"]
    assert "app-secret" not in repr(providers["microsoft"])


def test_defaults_are_the_real_endpoints_and_mail_servers(tmp_path: Path) -> None:
    providers = configured_providers(
        settings(
            tmp_path,
            OUTREACH_GOOGLE_CLIENT_ID="g",
            OUTREACH_GOOGLE_CLIENT_SECRET="gs",
            OUTREACH_MICROSOFT_CLIENT_ID="m",
            OUTREACH_MICROSOFT_CLIENT_SECRET="ms",
            OUTREACH_MICROSOFT_TENANT="organizations",
        )
    )
    google, microsoft = providers["google"], providers["microsoft"]

    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.scopes == ("https://mail.google.com/", "openid", "email")
    assert (google.imap_host, google.imap_port, google.imap_tls) == (
        "imap.gmail.com",
        993,
        TlsMode.SSL,
    )
    assert (google.smtp_host, google.smtp_port, google.smtp_tls) == (
        "smtp.gmail.com",
        465,
        TlsMode.SSL,
    )
    assert microsoft.authorize_url == (
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    )
    assert microsoft.revoke_url is None and microsoft.userinfo_url is None
    assert (microsoft.smtp_host, microsoft.smtp_port, microsoft.smtp_tls) == (
        "smtp.office365.com",
        587,
        TlsMode.STARTTLS,
    )
    assert "https://outlook.office.com/SMTP.Send" in microsoft.scopes


def test_endpoints_and_servers_can_be_overridden(tmp_path: Path) -> None:
    (google,) = configured_providers(
        settings(
            tmp_path,
            OUTREACH_GOOGLE_CLIENT_ID="g",
            OUTREACH_GOOGLE_CLIENT_SECRET="gs",
            OUTREACH_GOOGLE_TOKEN_URL="http://127.0.0.1:8123/token",
            OUTREACH_GOOGLE_IMAP="127.0.0.1:1143:starttls",
            OUTREACH_GOOGLE_SMTP="mail.example.org:2525:none",
        )
    ).values()

    assert google.token_url == "http://127.0.0.1:8123/token"
    assert (google.imap_host, google.imap_port, google.imap_tls) == (
        "127.0.0.1",
        1143,
        TlsMode.STARTTLS,
    )
    assert (google.smtp_port, google.smtp_tls) == (2525, TlsMode.NONE)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("OUTREACH_GOOGLE_TOKEN_URL", "http://auth.example.org/token", "https://"),
        ("OUTREACH_GOOGLE_AUTHORIZE_URL", "ftp://127.0.0.1/a", "https://"),
        ("OUTREACH_GOOGLE_IMAP", "imap.example.org:993", "host:port:tls"),
        ("OUTREACH_MICROSOFT_SMTP", "smtp.example.org:587:tls", "host:port:tls"),
        ("OUTREACH_MICROSOFT_TENANT", "common/../x", "OUTREACH_MICROSOFT_TENANT"),
        ("OUTREACH_GOOGLE_CLIENT_ID", "only-an-id", "OUTREACH_GOOGLE_CLIENT_SECRET"),
        ("OUTREACH_PUBLIC_URL", "outreach.example.org", "OUTREACH_PUBLIC_URL"),
    ],
)
def test_a_bad_setting_is_refused_in_words(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        settings(tmp_path, **{variable: value})


def test_the_public_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    configured = settings(tmp_path, OUTREACH_PUBLIC_URL="https://outreach.example.org/ ")
    assert configured.public_url == "https://outreach.example.org"
    assert settings(tmp_path).public_url is None


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_sign_in_url_asks_for_offline_access_with_pkce_and_a_fresh_state(
    tmp_path: Path,
) -> None:
    (google,) = configured_providers(
        settings(
            tmp_path,
            OUTREACH_GOOGLE_CLIENT_ID="g",
            OUTREACH_GOOGLE_CLIENT_SECRET="the-secret-stays-on-the-server",
        )
    ).values()

    first = start_authorization(google, REDIRECT, login_hint="sam@gmail.com")
    second = start_authorization(google, REDIRECT)

    parts = urlsplit(first.url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == google.authorize_url
    assert query["response_type"] == "code" and query["client_id"] == "g"
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "https://mail.google.com/ openid email"
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == code_challenge(first.code_verifier)
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert query["login_hint"] == "sam@gmail.com" and query["state"] == first.state
    assert 43 <= len(first.code_verifier) <= 128
    assert first.state != second.state and first.code_verifier != second.code_verifier
    # The client secret goes only to the token endpoint, never through the browser.
    assert "the-secret-stays-on-the-server" not in first.url
    assert "client_secret" not in query
