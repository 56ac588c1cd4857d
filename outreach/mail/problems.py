"""A failed connection in words: which of name, network, security or password went wrong.

"Test connection" and the poller show these sentences to people who cannot read a
socket error: "host not found" and "the certificate could not be verified" need
different fixes, so they must not both read "could not connect".
"""

from __future__ import annotations

import socket
import ssl

import aiosmtplib

# aiosmtplib's connection errors subclass OSError but only wrap the real one, kept
# as their cause: that cause says what happened.
_WRAPPERS = (aiosmtplib.SMTPException,)


def connection_problem(host: str, port: int, error: BaseException) -> str:
    """What went wrong reaching `host`:`port`, as a sentence with what to check."""
    cause = _root(error)
    if isinstance(cause, socket.gaierror):
        return f"the server name {host} was not found: check its spelling"
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or cause.reason or "no reason given"
        return (
            f"the secure connection to {host} failed: its certificate could not be "
            f"verified ({reason})"
        )
    if isinstance(cause, ssl.SSLError):
        return (
            f"the secure connection to {host}:{port} failed ({cause.reason or cause}): "
            "check the security setting (port 993 and 465 use SSL, 143 and 587 STARTTLS)"
        )
    if isinstance(cause, ConnectionRefusedError):
        return f"{host} refused the connection on port {port}: check the port number"
    if isinstance(cause, TimeoutError | socket.timeout):
        return f"{host} did not answer on port {port}: check the name, the port and your network"
    if isinstance(cause, OSError) and cause.strerror:
        return f"could not connect to {host}:{port}: {cause.strerror.lower()}"
    return f"could not connect to {host}:{port}: {error}"


def in_time(host: str, port: int) -> str:
    """The sentence for a server that did not finish answering before the deadline."""
    return (
        f"{host} did not answer in time on port {port}: check the name, the port and your network"
    )


def _root(error: BaseException) -> BaseException:
    """The underlying socket or TLS error, through the libraries' own wrappers."""
    seen: set[int] = set()
    current: BaseException = error
    while id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | socket.gaierror | OSError) and not isinstance(
            current, _WRAPPERS
        ):
            return current
        following = current.__cause__ or current.__context__
        if following is None:
            return current
        current = following
    return current
