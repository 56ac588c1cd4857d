"""Mailbox autodiscovery against real servers on 127.0.0.1: autoconfig over HTTPS, and DNS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner

from outreach.cli import outreach
from outreach.mail.autodiscover import (
    Discovery,
    Lookup,
    Source,
    UsernameStyle,
    discover,
    parse_autoconfig,
)
from outreach.mail.tls import client_context
from outreach.models import TlsMode
from tests.servers.autodiscovery import AutoconfigServer, DnsServer, autodiscovery_servers
from tests.servers.tls import TlsFiles

AUTOCONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.org">
    <domain>example.org</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="pop3">
      <hostname>pop.example.org</hostname><port>995</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.org</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""

WELL_KNOWN = "/well-known/{domain}/config-v1.1.xml"


@pytest.fixture
def servers(tls_files: TlsFiles) -> Iterator[tuple[DnsServer, AutoconfigServer]]:
    with autodiscovery_servers(tls_files) as pair:
        yield pair


@pytest.fixture
def lookup(servers: tuple[DnsServer, AutoconfigServer], tls_files: TlsFiles) -> Lookup:
    dns_server, web = servers
    return Lookup(
        autoconfig_urls=(
            web.url("/autoconfig/{domain}/mail/config-v1.1.xml?emailaddress={address}"),
            web.url(WELL_KNOWN),
        ),
        nameservers=("127.0.0.1",),
        dns_port=dns_server.port,
        timeout=1.0,
        ssl_context=client_context(tls_files.ca_pem),
        allow_private_addresses=True,
    )


def test_a_big_provider_is_known_without_asking_the_network(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    dns_server, web = servers

    found = discover("Someone@GMAIL.com", lookup)

    assert found is not None
    assert (found.source, found.provider) == (Source.PRESET, "Gmail")
    assert (found.imap_host, found.imap_port, found.imap_tls) == (
        "imap.gmail.com",
        993,
        TlsMode.SSL,
    )
    assert found.username == "Someone@GMAIL.com"
    assert dns_server.queries == [] and web.requests == []


def test_autoconfig_published_by_the_domain_is_used(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    dns_server, web = servers
    web.files["/autoconfig/example.org/mail/config-v1.1.xml"] = AUTOCONFIG
    dns_server.add("_imaps._tcp.example.org", "SRV", "0 1 993 srv-imap.example.org.")

    found = discover("ada@example.org", lookup)

    assert found == Discovery(
        imap_host="imap.example.org",
        imap_port=993,
        imap_tls=TlsMode.SSL,
        smtp_host="smtp.example.org",
        smtp_port=587,
        smtp_tls=TlsMode.STARTTLS,
        username="ada",
        username_style=UsernameStyle.LOCAL_PART,
        source=Source.AUTOCONFIG,
        provider="Example Mail",
    )
    assert web.requests == [
        "/autoconfig/example.org/mail/config-v1.1.xml?emailaddress=ada@example.org"
    ]
    assert dns_server.queries == []  # autoconfig answered: DNS was not asked


def test_the_well_known_address_is_tried_when_the_autoconfig_host_has_nothing(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    _, web = servers
    web.files[WELL_KNOWN.format(domain="example.org")] = AUTOCONFIG

    found = discover("ada@example.org", lookup)

    assert found is not None and found.source is Source.AUTOCONFIG
    assert len(web.requests) == 2


def test_srv_records_are_used_when_there_is_no_autoconfig(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    dns_server, _ = servers
    # "." means the service is not offered: plain IMAP with STARTTLS is next.
    dns_server.add("_imaps._tcp.example.net", "SRV", "0 0 0 .")
    dns_server.add(
        "_imap._tcp.example.net", "SRV", "10 1 143 backup.example.net.", "0 5 143 mail.example.net."
    )
    dns_server.add("_submissions._tcp.example.net", "SRV", "0 1 465 smtp.example.net.")
    dns_server.add("_submission._tcp.example.net", "SRV", "0 1 587 other.example.net.")

    found = discover("grace@example.net", lookup)

    assert found is not None
    assert found.source is Source.SRV
    assert (found.imap_host, found.imap_port, found.imap_tls) == (
        "mail.example.net",
        143,
        TlsMode.STARTTLS,
    )
    assert (found.smtp_host, found.smtp_port, found.smtp_tls) == (
        "smtp.example.net",
        465,
        TlsMode.SSL,
    )
    assert (found.username, found.username_style) == ("grace@example.net", UsernameStyle.ADDRESS)


def test_srv_without_a_submission_server_is_not_enough(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    dns_server, _ = servers
    dns_server.add("_imaps._tcp.example.net", "SRV", "0 1 993 mail.example.net.")

    assert discover("grace@example.net", lookup) is None


@pytest.mark.parametrize(
    ("exchange", "provider", "imap_host", "oauth"),
    [
        ("aspmx.l.google.com.", "Google Workspace", "imap.gmail.com", "google"),
        ("smtp.google.com.", "Google Workspace", "imap.gmail.com", "google"),
        (
            "uni-example-edu.mail.protection.outlook.com.",
            "Microsoft 365",
            "outlook.office365.com",
            "microsoft",
        ),
    ],
)
def test_a_domain_hosted_by_google_or_microsoft_is_guessed_from_its_mx(
    servers: tuple[DnsServer, AutoconfigServer],
    lookup: Lookup,
    exchange: str,
    provider: str,
    imap_host: str,
    oauth: str,
) -> None:
    dns_server, _ = servers
    dns_server.add("uni.example.edu", "MX", "20 backup.uni.example.edu.", f"10 {exchange}")

    found = discover("prof@uni.example.edu", lookup)

    assert found is not None
    assert (found.source, found.provider, found.imap_host) == (Source.MX, provider, imap_host)
    # How to log in comes along: the provider's advice, and its OAuth2 sign-in.
    assert found.advice and found.oauth_provider == oauth


def test_nothing_found_is_none_and_a_silent_dns_server_costs_only_the_timeout(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    dns_server, _ = servers
    dns_server.silent = True
    started = time.monotonic()

    found = discover("x@nowhere.example", replace(lookup, timeout=0.3))

    assert found is None
    # Four SRV names at most before the IMAP ones fail, and one MX query: each 0.3 s.
    assert time.monotonic() - started < 4


def test_autoconfig_with_a_dtd_is_refused_unexpanded(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    _, web = servers
    web.files["/autoconfig/example.org/mail/config-v1.1.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + AUTOCONFIG.split(b"?>", 1)[1]
    )

    assert discover("ada@example.org", lookup) is None


def test_autoconfig_is_not_fetched_from_a_private_address_unless_allowed(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    _, web = servers
    web.files["/autoconfig/example.org/mail/config-v1.1.xml"] = AUTOCONFIG

    assert discover("ada@example.org", replace(lookup, allow_private_addresses=False)) is None
    assert web.requests == []


def test_autoconfig_is_not_trusted_from_a_server_whose_certificate_fails(
    servers: tuple[DnsServer, AutoconfigServer], lookup: Lookup
) -> None:
    _, web = servers
    web.files["/autoconfig/example.org/mail/config-v1.1.xml"] = AUTOCONFIG

    assert discover("ada@example.org", replace(lookup, ssl_context=client_context())) is None


def test_servers_without_tls_are_not_offered() -> None:
    plain = AUTOCONFIG.replace(b"<socketType>SSL</socketType>", b"<socketType>plain</socketType>")

    assert parse_autoconfig(plain, "ada@example.org") is None
    assert parse_autoconfig(b"<clientConfig><broken>", "ada@example.org") is None
    found = parse_autoconfig(
        AUTOCONFIG.replace(b"%EMAILLOCALPART%", b"%EMAILADDRESS%"), "a@example.org"
    )
    assert found is not None and found.username_style is UsernameStyle.ADDRESS


def test_an_address_without_a_domain_finds_nothing(lookup: Lookup) -> None:
    assert discover("not-an-address", lookup) is None
    assert discover("a@localhost", lookup) is None


def test_the_cli_prints_what_was_found() -> None:
    result = CliRunner().invoke(outreach, ["mailbox", "discover", "maya@icloud.com"])

    assert result.exit_code == 0, result.output
    assert "maya@icloud.com: iCloud Mail (found in our presets)" in result.output
    assert "IMAP  imap.mail.me.com:993  SSL/TLS" in result.output
    assert "SMTP  smtp.mail.me.com:587  STARTTLS" in result.output
    assert "User name: maya@icloud.com (the whole address)" in result.output


def test_xml_declaring_entities_is_refused_before_any_expansion() -> None:
    from outreach.mail.autodiscover import parse_xml

    with pytest.raises(ValueError, match="DTDs and entities are not accepted"):
        parse_xml(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    assert parse_xml(b"<x><y>1</y></x>").findtext("y") == "1"
