"""Servers that answer mailbox autodiscovery on 127.0.0.1: DNS (SRV, MX) and autoconfig HTTPS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from tests.servers.tls import TlsFiles


class DnsServer:
    """A UDP DNS server answering from `records`: {(name, type): [rdata text, ...]}.

    A name with no record of the asked type gets NXDOMAIN; `silent` makes it
    answer nothing at all, as a server that is down.
    """

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.silent = False
        self.queries: list[tuple[str, str]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    def add(self, name: str, kind: str, *values: str) -> None:
        self.records.setdefault((name.lower().rstrip(".") + ".", kind.upper()), []).extend(values)

    def _answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, kind))
        values = self.records.get((name, kind))
        if values:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", kind, values))
        elif not any(key[0] == name for key in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, client = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            if not self.silent:
                self._socket.sendto(self._answer(wire), client)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


class AutoconfigServer:
    """An HTTPS server (the test CA's certificate for 127.0.0.1) serving `files` by path."""

    def __init__(self, tls_files: TlsFiles) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        files, requests = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                requests.append(self.path)
                body = files.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/xml")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls_files.cert_pem), str(tls_files.key_pem))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="test-autoconfig",
            daemon=True,
        )

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> AutoconfigServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


@contextmanager
def autodiscovery_servers(tls_files: TlsFiles) -> Iterator[tuple[DnsServer, AutoconfigServer]]:
    with DnsServer() as dns_server, AutoconfigServer(tls_files) as web_server:
        yield dns_server, web_server
