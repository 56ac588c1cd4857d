"""TLS contexts for talking to the user's mail servers."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, plus `ca_file` when given.

    Verification is never switched off; a self-hosted server with its own CA
    is trusted by naming that CA (OUTREACH_CA_FILE).
    """
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context
