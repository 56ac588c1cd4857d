"""Reaching a mail server: resolve once, check every address, connect to the checked one.

A deployment open to many people must not let one of them point Outreach at its
own network (a database, a metadata service, another container): with
OUTREACH_REFUSE_PRIVATE_ADDRESSES set, every address a host name resolves to is
checked, and the socket is connected to one of those checked addresses, never
by name again, so a DNS answer that changes in between (DNS rebinding) cannot
slip past the check. TLS still verifies the certificate against the host name.

Every step waits at most until a `Deadline`, so a silent port answers in time.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from outreach.errors import TemporaryFailure

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The system resolver cannot be interrupted: it runs in these threads, and the
# caller stops waiting at its deadline. A few at once, not one per request.
_resolvers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def _new_resolvers() -> None:
    # A forked child (an RQ work horse, a gunicorn worker) has none of its parent's
    # threads: a pool copied from the parent would wait for them for ever.
    global _resolvers
    _resolvers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


os.register_at_fork(after_in_child=_new_resolvers)

NOT_A_MAIL_SERVER = (
    "{host} answered on port {port}, but not like a mail server: check the server name and the port"
)


class AddressRefused(TemporaryFailure):
    """The server's address is one this deployment does not connect to.

    A TemporaryFailure: the poller and the worker treat it like any server they
    cannot reach (the mailbox's settings or the deployment's may change).
    """


class NotAMailServer(TemporaryFailure):
    """Something answered on the port, but not with an IMAP or SMTP greeting.

    Its words are never repeated: they could be another service's banner.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(NOT_A_MAIL_SERVER.format(host=host, port=port))


def is_public(address: IPAddress) -> bool:
    """Whether `address` is on the public internet (not private, loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:10.0.0.5 reaches 10.0.0.5.
        return is_public(address.ipv4_mapped)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses this Outreach connects to: all, or public ones only.

    `exceptions` are (address, port) pairs allowed all the same: the sandbox's
    own servers on 127.0.0.1, where the sandbox runs.
    """

    refuse_private: bool = False
    exceptions: frozenset[tuple[str, int]] = frozenset()

    def check(self, address: IPAddress, port: int | None = None) -> None:
        """:raise AddressRefused: when the policy does not allow `address` (on `port`)."""
        if (str(address), port) in self.exceptions:
            return
        if self.refuse_private and not is_public(address):
            raise AddressRefused(
                f"This server's address ({address}) is on a private network, "
                "which this Outreach does not connect to"
            )


ANY_ADDRESS = AddressPolicy()
PUBLIC_ONLY = AddressPolicy(refuse_private=True)


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which a whole exchange must be over."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self.at - time.monotonic())

    def timeout(self, longest: float) -> float:
        """A socket timeout for the next step: what is left, at most `longest`, never zero."""
        return max(0.05, min(longest, self.left()))


def resolve(host: str, port: int, deadline: Deadline) -> list[IPAddress]:
    """The addresses `host` resolves to, in the resolver's order, each once.

    :raise TemporaryFailure: the name is unknown, or the resolver did not answer in time.
    """
    lookup = _resolvers.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=deadline.timeout(deadline.left()))
    except ResolveTimeout:
        lookup.cancel()
        raise TemporaryFailure(
            f"looking up {host} took too long: check the name and your network"
        ) from None
    except (OSError, UnicodeError):
        raise TemporaryFailure(
            f"the server name {host} was not found: check its spelling"
        ) from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 scope ("fe80::1%eth0") is not part of the address itself.
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


def checked_addresses(
    host: str, port: int, deadline: Deadline, policy: AddressPolicy
) -> list[IPAddress]:
    """`host`'s addresses once every one of them passed `policy`.

    All of them, not only the first: a name that also resolves to a private
    address is refused, whichever one a connection would have used.

    :raise AddressRefused: when any address is refused.
    """
    addresses = resolve(host, port, deadline)
    for address in addresses:
        policy.check(address, port)
    return addresses


def connect_checked(
    host: str, port: int, deadline: Deadline, policy: AddressPolicy, longest: float = 30.0
) -> socket.socket:
    """A TCP socket connected to one of `host`'s checked addresses, with a timeout set.

    The timeout is what is left of `deadline`, at most `longest` seconds.

    :raise AddressRefused: an address of `host` is not allowed.
    :raise TemporaryFailure: the name is unknown or could not be looked up in time.
    :raise OSError: no address took the connection (refused, timed out, unreachable).
    """
    last: OSError | None = None
    for address in checked_addresses(host, port, deadline, policy):
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.timeout(longest))
            sock.connect((str(address), port))
        except OSError as error:
            sock.close()
            last = error
            if deadline.left() <= 0:
                break
            continue
        sock.settimeout(deadline.timeout(longest))
        return sock
    raise last if last is not None else TimeoutError(f"no time was left to reach {host}")


@dataclass
class Watchdog:
    """Shuts sockets down when a deadline passes, so no slow answer outlasts it.

    A socket timeout bounds each read, not their sum: a server that sends a
    byte every few seconds would never trip it. Use as a context manager
    around the exchange; sockets are added with `guard` as they are made.
    """

    deadline: Deadline
    _sockets: list[socket.socket] = field(default_factory=list)
    _timer: threading.Timer | None = None
    fired: bool = False

    def guard(self, sock: socket.socket) -> socket.socket:
        self._sockets.append(sock)
        return sock

    def _fire(self) -> None:
        self.fired = True
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing to stop

    def __enter__(self) -> Self:
        self._timer = threading.Timer(self.deadline.left(), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._sockets.clear()
