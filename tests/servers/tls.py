"""A throwaway CA and a localhost server certificate, written to PEM files for test servers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA to trust, and the server certificate chain and key it signed."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def make_tls_files(directory: Path | str) -> TlsFiles:
    """Create a fresh CA and a server cert valid for "localhost" and "127.0.0.1"."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = TlsFiles(
        ca_pem=directory / "ca.pem",
        cert_pem=directory / "server-cert.pem",
        key_pem=directory / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.private_key_pem.write_to_path(str(files.key_pem))
    # Leaf first, then any intermediates: the order Dovecot and ssl.load_cert_chain expect.
    with files.cert_pem.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    # Owner-only is enough: Dovecot reads it at start as the user that launches it (root or not).
    files.key_pem.chmod(0o600)
    return files
