"""Finding a mailbox's IMAP and SMTP settings from its address.

Tried in order, the first complete answer wins:

1. our presets for the big providers (outreach.mail.presets), with no network at all;
2. Mozilla-style autoconfig, published by the domain over HTTPS
   (https://autoconfig.<domain>/mail/config-v1.1.xml, then
   https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml);
3. DNS SRV records per RFC 6186 and RFC 8314 (_imaps._tcp, _imap._tcp,
   _submissions._tcp, _submission._tcp);
4. a guess from the domain's MX records, for domains whose mail Google,
   Microsoft, Fastmail or iCloud host.

Every network call has a short timeout, and where it goes is injectable
(`Lookup`) so that tests point it at servers on 127.0.0.1. Whatever is found
only fills in a form: "Test connection" checks it for real.

Autoconfig is fetched over HTTPS only, never plain HTTP (an attacker on the path
could otherwise hand out their own servers), its XML is parsed with DTDs and
entities refused, and by default no request goes to a private or loopback
address (the address typed in a form must not reach the dashboard's own network):
the name is resolved once, every address checked, and the request sent to the
checked address (outreach.mail.reach), so DNS rebinding cannot get around it.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

import dns.exception
import dns.resolver
import httpx

from outreach.errors import TemporaryFailure
from outreach.mail import MailServer, MailServers
from outreach.mail.presets import Preset, preset_for, preset_named
from outreach.mail.reach import ANY_ADDRESS, PUBLIC_ONLY, Deadline, checked_addresses
from outreach.models.accounts import TlsMode

log = logging.getLogger(__name__)

DEFAULT_AUTOCONFIG_URLS = (
    "https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}",
    "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={address}",
)
# Autoconfig files are a few kilobytes; anything much larger is not one.
MAX_AUTOCONFIG_BYTES = 64 * 1024

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)  # noqa: E501


class Source(StrEnum):
    """Where the settings were found, in the words the dashboard shows."""

    PRESET = "preset"
    AUTOCONFIG = "autoconfig"
    SRV = "SRV records"
    MX = "MX guess"


class UsernameStyle(StrEnum):
    """What the servers expect as the login name."""

    ADDRESS = "the whole address"
    LOCAL_PART = "the part before the @"
    OTHER = "a login name of its own"


@dataclass(frozen=True, kw_only=True)
class Discovery(MailServers):
    """Settings found for an address, and where they came from."""

    username: str
    username_style: UsernameStyle
    source: Source
    # Who runs the mailbox, when known ("Gmail", "Example Mail"), else "".
    provider: str = ""
    # What the person must know to log in, in our words (from a preset), else "".
    advice: str = ""
    # Whether the provider files a copy of sent mail by itself; None when unknown.
    files_sent_copy: bool | None = None
    # The OAuth2 provider ("google", "microsoft") whose sign-in reaches this mailbox, if any.
    oauth_provider: str | None = None


@dataclass(frozen=True)
class Lookup:
    """Where discovery looks, and how long it waits for each answer."""

    # URL templates with {domain} and {address} (URL-quoted).
    autoconfig_urls: tuple[str, ...] = DEFAULT_AUTOCONFIG_URLS
    # DNS servers to ask; None asks the system's resolver.
    nameservers: tuple[str, ...] | None = None
    dns_port: int = 53
    # Seconds for each HTTP request and each DNS query.
    timeout: float = 4.0
    # Trust for autoconfig over HTTPS; None: the system's CAs.
    ssl_context: ssl.SSLContext | None = None
    # Tests serve autoconfig on 127.0.0.1; a deployment never fetches from its own network.
    allow_private_addresses: bool = False


def _split(address: str) -> tuple[str, str] | None:
    """(local part, domain as ASCII), or None when the address has no usable domain."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not local or not domain:
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not _HOSTNAME.match(ascii_domain) or "." not in ascii_domain:
        return None
    return local, ascii_domain


def _from_preset(
    address: str, preset: Preset, source: Source, provider: str = "", advice: str = ""
) -> Discovery:
    return Discovery.joining(
        preset.imap,
        preset.smtp,
        username=address.strip(),
        username_style=UsernameStyle.ADDRESS,
        source=source,
        provider=provider or preset.provider,
        advice=advice or preset.advice,
        files_sent_copy=preset.files_sent_copy,
        oauth_provider=preset.oauth_provider,
    )


def from_preset(address: str) -> Discovery | None:
    preset = preset_for(address)
    return None if preset is None else _from_preset(address, preset, Source.PRESET)


# --- autoconfig ------------------------------------------------------------------------------


class _Refused(ValueError):
    """The XML declares a DTD or an entity: refused, never expanded."""


def _refuse(*_: Any) -> int:
    raise _Refused("DTDs and entities are not accepted")


def parse_xml(data: bytes) -> Element:
    """Parse XML into an ElementTree element, refusing DTDs and entity declarations.

    xml.etree would expand internal entities (a "billion laughs" document);
    expat with these handlers stops at the first declaration instead.

    :raise ValueError: when the document is not well-formed or declares a DTD.
    """
    builder = TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise ValueError(f"not well-formed XML: {error}") from None
    return builder.close()


_SOCKET_TYPES = {"SSL": TlsMode.SSL, "STARTTLS": TlsMode.STARTTLS}


def _text(element: Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _fill(template: str, local: str, domain: str, address: str) -> str:
    return (
        template.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", local)
        .replace("%EMAILDOMAIN%", domain)
    )


def _server(
    elements: Iterable[Element], kind: str, local: str, domain: str, address: str
) -> tuple[MailServer, str] | None:
    """The first server of `kind` that uses TLS, and its username template."""
    for element in elements:
        if element.get("type", "").lower() != kind:
            continue
        tls = _SOCKET_TYPES.get(_text(element, "socketType").upper())
        host = _fill(_text(element, "hostname"), local, domain, address).lower()
        port = _text(element, "port")
        # A server without TLS would carry the password in clear: not offered.
        if tls is None or not _HOSTNAME.match(host) or not port.isdigit():
            continue
        if not 0 < int(port) < 65536:
            continue
        return MailServer(host, int(port), tls), _text(element, "username")
    return None


def parse_autoconfig(data: bytes, address: str) -> Discovery | None:
    """Settings from a Mozilla autoconfig document (config-v1.1.xml), or None (pure)."""
    parts = _split(address)
    if parts is None:
        return None
    local, domain = parts
    address = address.strip()
    try:
        root = parse_xml(data)
    except ValueError as error:
        log.info("autoconfig for %s refused: %s", domain, error)
        return None
    provider = root.find("emailProvider")
    if root.tag != "clientConfig" or provider is None:
        return None
    imap = _server(provider.findall("incomingServer"), "imap", local, domain, address)
    smtp = _server(provider.findall("outgoingServer"), "smtp", local, domain, address)
    if imap is None or smtp is None:
        return None
    template = imap[1] or "%EMAILADDRESS%"
    style = {
        "%EMAILADDRESS%": UsernameStyle.ADDRESS,
        "%EMAILLOCALPART%": UsernameStyle.LOCAL_PART,
    }.get(template, UsernameStyle.OTHER)
    return Discovery.joining(
        imap[0],
        smtp[0],
        username=_fill(template, local, domain, address),
        username_style=style,
        source=Source.AUTOCONFIG,
        provider=_text(provider, "displayName") or domain,
    )


def _pinned(url: str, lookup: Lookup) -> tuple[str, str, str] | None:
    """(the URL on a checked address, the Host header, the TLS server name), or None.

    The name is resolved once and the request goes to the address that was
    checked, so a second DNS answer cannot turn a public name private (DNS
    rebinding); the certificate is still checked against the name.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or 443
    policy = ANY_ADDRESS if lookup.allow_private_addresses else PUBLIC_ONLY
    try:
        address = checked_addresses(host, port, Deadline.after(lookup.timeout), policy)[0]
    except (TemporaryFailure, IndexError) as error:
        log.info("autoconfig at %s skipped: %s", host, error or "no address")
        return None
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
    return pinned, parts.netloc.rpartition("@")[2], host


def _fetch(url: str, lookup: Lookup) -> bytes | None:
    target = _pinned(url, lookup)
    if target is None:
        return None
    pinned, host_header, server_name = target
    verify: ssl.SSLContext | bool = lookup.ssl_context or True
    try:
        with (
            httpx.Client(timeout=lookup.timeout, verify=verify, follow_redirects=False) as client,
            client.stream(
                "GET",
                pinned,
                headers={"Host": host_header},
                extensions={"sni_hostname": server_name},
            ) as response,
        ):
            if response.status_code != 200:
                return None
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_AUTOCONFIG_BYTES:
                    return None
            return bytes(body)
    except (httpx.HTTPError, ssl.SSLError, OSError) as error:
        log.info("autoconfig at %s: %s", server_name, error)
        return None


def from_autoconfig(address: str, lookup: Lookup) -> Discovery | None:
    parts = _split(address)
    if parts is None:
        return None
    for template in lookup.autoconfig_urls:
        url = template.format(domain=parts[1], address=quote(address.strip(), safe="@"))
        data = _fetch(url, lookup)
        found = parse_autoconfig(data, address) if data is not None else None
        if found is not None:
            return found
    return None


# --- DNS: SRV records and MX ------------------------------------------------------------------


def _resolver(lookup: Lookup) -> dns.resolver.Resolver:
    if lookup.nameservers is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(lookup.nameservers)
        resolver.port = lookup.dns_port
    resolver.timeout = lookup.timeout
    resolver.lifetime = lookup.timeout
    return resolver


def _query(resolver: dns.resolver.Resolver, name: str, kind: str) -> list[Any]:
    try:
        return list(resolver.resolve(name, kind, search=False))
    except dns.exception.DNSException as error:
        log.info("%s %s: %s", kind, name, type(error).__name__)
        return []


def _best_srv(
    resolver: dns.resolver.Resolver, services: Iterable[tuple[str, TlsMode]], domain: str
) -> MailServer | None:
    """The first service that has a usable record: lowest priority, then highest weight.

    A record whose target is "." says the domain does not offer that service.
    """
    for service, tls in services:
        records = sorted(
            _query(resolver, f"{service}._tcp.{domain}", "SRV"),
            key=lambda record: (record.priority, -record.weight),
        )
        for record in records:
            host = record.target.to_text(omit_final_dot=True).lower()
            if host and host != "." and _HOSTNAME.match(host) and record.port:
                return MailServer(host, int(record.port), tls)
    return None


def from_srv(address: str, lookup: Lookup) -> Discovery | None:
    parts = _split(address)
    if parts is None:
        return None
    resolver = _resolver(lookup)
    # Implicit TLS first, as RFC 8314 recommends.
    imap = _best_srv(resolver, (("_imaps", TlsMode.SSL), ("_imap", TlsMode.STARTTLS)), parts[1])
    if imap is None:
        return None
    smtp = _best_srv(
        resolver, (("_submissions", TlsMode.SSL), ("_submission", TlsMode.STARTTLS)), parts[1]
    )
    if smtp is None:
        return None
    return Discovery.joining(
        imap,
        smtp,
        username=address.strip(),
        username_style=UsernameStyle.ADDRESS,
        source=Source.SRV,
        provider=parts[1],
    )


_MICROSOFT_365 = (
    "Most organisations on Microsoft 365 do not accept passwords from other mail programs: "
    "connect with Sign in with Microsoft (OAuth2), or ask your IT team whether IMAP with a "
    "password is allowed."
)

# Mail hosts by the end of their MX names:
# (suffixes, the preset's provider, who it is then, advice in place of the preset's).
_MX_HOSTS: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("google.com", "googlemail.com"), "Gmail", "Google Workspace", ""),
    (("mail.protection.outlook.com",), "Outlook.com", "Microsoft 365", _MICROSOFT_365),
    (("messagingengine.com",), "Fastmail", "Fastmail", ""),
    (("mail.icloud.com",), "iCloud Mail", "iCloud Mail (custom domain)", ""),
)


def from_mx(address: str, lookup: Lookup) -> Discovery | None:
    parts = _split(address)
    if parts is None:
        return None
    records = sorted(_query(_resolver(lookup), parts[1], "MX"), key=lambda mx: mx.preference)
    for record in records:
        host = record.exchange.to_text(omit_final_dot=True).lower()
        for suffixes, preset_name, provider, advice in _MX_HOSTS:
            if any(host == suffix or host.endswith("." + suffix) for suffix in suffixes):
                preset = preset_named(preset_name)
                if preset is not None:
                    return _from_preset(address, preset, Source.MX, provider, advice)
    return None


STEPS: tuple[tuple[str, Callable[[str, Lookup], Discovery | None]], ...] = (
    ("presets", lambda address, _: from_preset(address)),
    ("autoconfig", from_autoconfig),
    ("SRV records", from_srv),
    ("MX records", from_mx),
)


def discover(address: str, lookup: Lookup | None = None) -> Discovery | None:
    """The IMAP and SMTP settings for `address`, or None when no source knows them."""
    lookup = lookup or Lookup()
    if _split(address) is None:
        return None
    for name, step in STEPS:
        found = step(address, lookup)
        if found is not None:
            log.info("settings for %s found by %s", address.rpartition("@")[2], name)
            return found
    return None
