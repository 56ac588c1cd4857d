"""Kept IMAP connections: the poller's one logged-in connection per mailbox, reused for ever.

Logging in anew for every check costs round trips (TCP, TLS, the login) and
providers throttle accounts that log in every minute. So each mailbox a poller
holds gets a `Keeper`: a thread with one connection that it keeps open.

- Where the server offers IDLE, the keeper waits in IDLE on the INBOX and syncs
  that mailbox alone the moment mail arrives; it also syncs every `idle_renew`
  seconds (5 minutes: the Sent folder has no IDLE), which renews the IDLE well
  within the 29 minutes RFC 2177 allows.
- Elsewhere it syncs every poll interval over the same connection.
- A broken link is opened again after a back-off with jitter (polling.Backoff).
- At most `Limits.per_host` keepers log in or sync at once against one server
  host, and at most `Limits.account_limit` connections are open per account
  (Gmail allows 15), so a thousand mailboxes on one provider never storm it.

`Pool` is what the poller drives: it renews the leases (outreach.leases) and its
heartbeat, takes free mailboxes up to its fair share among the live pollers,
gives back (keeper first, lease after) what it holds beyond that share, and
starts and stops keepers to match the ones it holds. Every
sync also renews its mailbox's lease in its own transaction, and records
nothing if another poller holds it (polling.sync_open), so two pollers never
both count a reply.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import leases
from outreach.crypto import SecretBox
from outreach.db import is_outage, session_scope
from outreach.mail.imap import ImapSource
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy
from outreach.mailbox_login import MailboxLogin
from outreach.models import Mailbox, MailboxStatus
from outreach.oauth.tokens import AccessTokens
from outreach.polling import Backoff, Holder, PollResult, connect, sync_open

log = logging.getLogger("outreach.poller")

GMAIL_HOSTS = frozenset({"imap.gmail.com", "imap.googlemail.com"})
# "NO [ALERT] Too many simultaneous connections": Gmail's cap per account.
GMAIL_PER_ACCOUNT = 15
# RFC 2177: re-issue IDLE at least every 29 minutes; NAT boxes drop quiet links sooner.
LONGEST_IDLE = 25 * 60.0
# Seconds a refresh waits, in all, for the keepers of mailboxes it gives back to log
# out, so their leases are released in the same refresh (the rest at the next one).
SHED_WAIT = 2.0


@dataclass(frozen=True)
class Limits:
    """How hard one poller may press on one server."""

    # Logins and syncs at once against one server host.
    per_host: int = 50
    # Connections open at once on one account (host and user name); Gmail's is fixed.
    per_account: int = 10
    # Seconds between two syncs of a mailbox whose server has no IDLE.
    poll_interval: float = 60.0
    # Seconds an IDLE is held before it is renewed with a sync of every watched
    # folder (capped at LONGEST_IDLE); never shorter than the poll interval.
    idle_renew: float = 300.0
    # Seconds before the first new try after a broken link; doubled up to 5 min.
    retry_first: float = 5.0

    def account_limit(self, host: str) -> int:
        return GMAIL_PER_ACCOUNT if host.lower() in GMAIL_HOSTS else self.per_account

    @property
    def idle_wait(self) -> float:
        return min(max(self.poll_interval, self.idle_renew), LONGEST_IDLE)


class Slots:
    """Counting semaphores by key (a host, an account), each made when first asked for."""

    def __init__(self, limit: Callable[[str], int]) -> None:
        self._limit = limit
        self._semaphores: dict[str, threading.Semaphore] = {}
        self._in_use: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str, stop: threading.Event) -> Iterator[bool]:
        """Wait for a slot under `key`; yields False (and holds none) if `stop` is set first."""
        with self._lock:
            semaphore = self._semaphores.setdefault(key, threading.Semaphore(self._limit(key)))
        while not semaphore.acquire(timeout=0.5):
            if stop.is_set():
                yield False
                return
        with self._lock:
            self._in_use[key] += 1
            self._peak[key] = max(self._peak[key], self._in_use[key])
        try:
            yield True
        finally:
            with self._lock:
                self._in_use[key] -= 1
            semaphore.release()

    def in_use(self, key: str) -> int:
        with self._lock:
            return self._in_use[key]

    def peak(self, key: str) -> int:
        """The most slots ever held at once under `key`."""
        with self._lock:
            return self._peak[key]


@dataclass
class Counters:
    """What the keepers did, for the poller's log and the benchmarks."""

    logins: Counter[int] = field(default_factory=Counter)  # mailbox id -> logins
    syncs: Counter[int] = field(default_factory=Counter)  # mailbox id -> syncs
    wakeups: Counter[int] = field(default_factory=Counter)  # mailbox id -> IDLE wake-ups
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: Counter[int], mailbox_id: int) -> None:
        with self.lock:
            what[mailbox_id] += 1


@dataclass
class DatabaseState:
    """Whether the database answers, as the poller's main loop last found it.

    A keeper whose sync meets an outage `doubt`s it: the main loop checks at once
    (and says so, once) and sets `usable` again when the database is back.
    """

    usable: threading.Event = field(default_factory=threading.Event)
    doubted: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.usable.set()

    def doubt(self) -> None:
        self.usable.clear()
        self.doubted.set()


@dataclass(frozen=True)
class Wiring:
    """What a keeper needs to log in and sync, the same for every mailbox of one poller."""

    factory: sessionmaker[Session]
    context: ssl.SSLContext
    tokens: AccessTokens | None
    clock: Callable[[], datetime]
    holder: Holder
    limits: Limits
    hosts: Slots
    accounts: Slots
    counters: Counters
    database: DatabaseState
    policy: AddressPolicy = ANY_ADDRESS


class Keeper:
    """One mailbox's kept connection, and the thread that syncs over it."""

    def __init__(self, login: MailboxLogin, wiring: Wiring, on_lost: Callable[[int], None]):
        self.login = login
        self._wiring = wiring
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._source: ImapSource | None = None
        # Set while the keeper waits in IDLE: only then may `stop` cut its link.
        self._waiting = False
        self._lock = threading.Lock()
        self._problem = ""
        self.connected = False
        self._thread = threading.Thread(
            target=self._run, name=f"mailbox-{login.mailbox_id}", daemon=True
        )

    @property
    def mailbox_id(self) -> int:
        return self.login.mailbox_id

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the keeper to end; a wait in IDLE is cut short. Does not wait for it."""
        self._stop.set()
        with self._lock:
            if self._source is not None and self._waiting:
                self._source.interrupt()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        backoff = Backoff(first=self._wiring.limits.retry_first)
        server = self.login.server
        account = f"{server.host.lower()}:{server.port}/{server.username}"
        # Spread the first logins, so a poller starting with many mailboxes does not knock at once.
        self._stop.wait(random.uniform(0, 0.5))
        while not self._stop.is_set():
            with self._wiring.accounts.hold(account, self._stop) as held:
                if not held:
                    return
                try:
                    outcome = self._connect_and_keep(server.host.lower(), backoff)
                except Exception as error:  # noqa: BLE001 - one mailbox must not stop the rest
                    problem = f"unexpected error: {error!r}"
                    self._report(PollResult(self.mailbox_id, ok=False, problem=problem), backoff)
                    outcome = "broken"
            if outcome == "lost" or self._stop.is_set():
                return
            wait = backoff.failed(0.0, random.uniform(0.8, 1.2))
            self._stop.wait(wait)

    def _connect_and_keep(self, host: str, backoff: Backoff) -> str:
        """Log in and sync until the link breaks ("broken") or the lease is lost ("lost")."""
        wiring = self._wiring
        with wiring.hosts.hold(host, self._stop) as held:
            if not held:
                return "stopped"
            wiring.counters.count(wiring.counters.logins, self.mailbox_id)
            source = connect(
                wiring.factory, self.login, wiring.context, wiring.clock, wiring.tokens,
                wiring.policy,
            )  # fmt: skip
        if isinstance(source, PollResult):
            self._report(source, backoff)
            return "broken"
        with self._lock:
            self._source = source
        self.connected = True
        try:
            return self._keep(source, host, backoff)
        finally:
            self.connected = False
            with self._lock:
                self._source = None
            source.close()

    def _keep(self, source: ImapSource, host: str, backoff: Backoff) -> str:
        wiring = self._wiring
        idle = source.offers_idle()
        while not self._stop.is_set():
            with wiring.hosts.hold(host, self._stop) as held:
                if not held:
                    return "stopped"
                wiring.counters.count(wiring.counters.syncs, self.mailbox_id)
                try:
                    result = sync_open(
                        wiring.factory, self.mailbox_id, source, wiring.clock, wiring.holder
                    )
                except Exception as error:
                    if not is_outage(error):
                        raise
                    result = None
            if result is None:
                # The database is away: nothing was recorded. The connection is kept, and
                # the sync tried again once the poller's main loop (which says so, once)
                # finds the database back; a thousand keepers do not knock meanwhile.
                self._wiring.database.doubt()
                while not self._wiring.database.usable.wait(1.0):
                    if self._stop.is_set():
                        return "stopped"
                continue
            if result.lost_lease:
                self._on_lost(self.mailbox_id)
                return "lost"
            if not result.ok:
                self._report(result, backoff)
                return "broken"
            backoff.succeeded()
            self._report(result, backoff)
            if not idle:
                self._stop.wait(wiring.limits.poll_interval)
                continue
            with self._lock:
                if self._stop.is_set():
                    break
                self._waiting = True
            try:
                if source.wait_for_mail(wiring.limits.idle_wait):
                    wiring.counters.count(wiring.counters.wakeups, self.mailbox_id)
            except Exception as error:  # noqa: BLE001 - any broken link is opened again
                if self._stop.is_set():
                    return "stopped"
                self._report(PollResult(self.mailbox_id, ok=False, problem=str(error)), backoff)
                return "broken"
            finally:
                with self._lock:
                    self._waiting = False
        return "stopped"

    def _report(self, result: PollResult, backoff: Backoff) -> None:
        """Log a problem once per change, so a long outage does not flood the log."""
        if result.ok:
            if self._problem:
                log.info("mailbox %s is reachable again", self.mailbox_id)
                self._problem = ""
            if result.report and result.report.matched:
                log.info("mailbox %s: %s new answers", self.mailbox_id, result.report.matched)
            return
        if result.problem != self._problem:
            log.warning(
                "mailbox %s: %s (tried again with back-off, %s failures so far)",
                self.mailbox_id,
                result.problem,
                backoff.failures + 1,
            )
            self._problem = result.problem


class Pool:
    """The keepers of every mailbox one poller holds, matched to its leases by `refresh`."""

    def __init__(self, box: SecretBox, wiring: Wiring) -> None:
        self._box = box
        self.wiring = wiring
        self.keepers: dict[int, Keeper] = {}
        self._lost: set[int] = set()
        self._lost_lock = threading.Lock()
        # Mailboxes being given back to other pollers: their keepers (None when there
        # was none) are logging out, and their leases are released once they have.
        self._shedding: dict[int, Keeper | None] = {}
        # This poller's share at the last refresh (how many mailboxes among how many pollers).
        self.share = leases.Share(0, 1)
        self._pollers_changed_at: datetime | None = None

    @property
    def counters(self) -> Counters:
        return self.wiring.counters

    def refresh(self) -> set[int]:
        """Renew this poller's leases, take its share of free mailboxes, start and stop keepers.

        Returns the mailboxes held (and watched). The poller says it is alive in
        the same transaction that renews its leases, and counts the live pollers:
        it takes free mailboxes up to its fair share, and gives back what it holds
        beyond the share and its slack (outreach.leases.Share), each only once its
        keeper has logged out. A mailbox whose login changed (a new password,
        another server) gets a new keeper.

        :raise: a database outage as it comes (see outreach.db.is_outage).
        """
        holder = self.wiring.holder
        now = self.wiring.clock()
        with self._lost_lock:
            lost, self._lost = self._lost, set()
        for mailbox_id in lost:
            self._retire(mailbox_id)
        self._give_back_ended()
        logins: dict[int, MailboxLogin] = {}
        with session_scope(self.wiring.factory) as session:
            leases.renew_all(session, holder.owner, now, holder.lease)
            pollers = leases.beat(session, holder.owner, now, holder.lease)
        with session_scope(self.wiring.factory) as session:
            rows = session.scalars(
                select(Mailbox).where(Mailbox.status != MailboxStatus.NEEDS_SIGN_IN)
            ).all()
            free = [
                row.id
                for row in rows
                if row.poll_owner != holder.owner
                and (row.poll_owner is None or row.poll_lease_until is None)
            ]
            mine = {
                row.id
                for row in rows
                if row.poll_owner == holder.owner and row.id not in self._shedding
            }
            expired = [
                row.id
                for row in rows
                if row.poll_owner not in (None, holder.owner)
                and row.poll_lease_until is not None
                and _aware(row.poll_lease_until) < now
            ]
            for row in rows:
                logins[row.id] = MailboxLogin.imap(row, self._box)
        if pollers != self.share.pollers:
            self._pollers_changed_at = now
        self.share = leases.Share(len(rows), pollers)
        takeable = free + expired
        # In a random order: pollers started together split the free mailboxes
        # between them instead of racing for the same ones.
        random.shuffle(takeable)
        for mailbox_id in takeable:
            if len(mine) + len(self._shedding) >= self.share.target:
                break
            with session_scope(self.wiring.factory) as session:
                if leases.acquire(session, mailbox_id, holder.owner, now, holder.lease):
                    mine.add(mailbox_id)
        held = len(mine) + len(self._shedding)
        if held > self.share.keep:
            surplus = random.sample(sorted(mine), held - self.share.target)
            log.info(
                "giving back %s mailboxes to the other pollers: %s live pollers share %s",
                len(surplus),
                pollers,
                len(rows),
            )
            for mailbox_id in surplus:
                mine.discard(mailbox_id)
                self._shed(mailbox_id)
        for mailbox_id in list(self.keepers):
            keeper = self.keepers[mailbox_id]
            if mailbox_id not in mine or keeper.login != logins.get(mailbox_id):
                self._retire(mailbox_id)
        for mailbox_id in sorted(mine - set(self.keepers)):
            keeper = Keeper(logins[mailbox_id], self.wiring, self._lose)
            self.keepers[mailbox_id] = keeper
            keeper.start()
        self._give_back_ended(wait=SHED_WAIT)
        return mine

    def settling(self) -> bool:
        """Whether the live pollers changed within the last lease and this one holds less
        than its share: the others are giving mailboxes back, to be taken soon."""
        changed_at = self._pollers_changed_at
        if changed_at is None or len(self.keepers) >= self.share.target:
            return False
        return self.wiring.clock() - changed_at < self.wiring.holder.lease

    @property
    def giving_back(self) -> set[int]:
        """Mailboxes given back whose keepers have not logged out yet (their leases kept)."""
        return set(self._shedding)

    def _shed(self, mailbox_id: int) -> None:
        """Stop the mailbox's keeper; its lease is given back once the keeper has logged out."""
        keeper = self.keepers.pop(mailbox_id, None)
        if keeper is not None:
            keeper.stop()
        self._shedding[mailbox_id] = keeper

    def _give_back_ended(self, wait: float = 0.0) -> None:
        """Release the leases of the mailboxes given back whose keepers have ended.

        A keeper still syncing would take a released lease again in the sync's
        own transaction; its lease is kept (and renewed) until it has ended.

        :param wait: seconds to wait, in all, for the keepers to end first.
        """
        if not self._shedding:
            return
        deadline = time.monotonic() + wait
        ended = []
        for mailbox_id, keeper in self._shedding.items():
            if keeper is not None:
                keeper.join(max(0.0, deadline - time.monotonic()))
                if keeper.alive:
                    continue
            ended.append(mailbox_id)
        if not ended:
            return
        with session_scope(self.wiring.factory) as session:
            leases.release(session, self.wiring.holder.owner, ended)
        for mailbox_id in ended:
            del self._shedding[mailbox_id]

    def _lose(self, mailbox_id: int) -> None:
        # Called from the keeper's own thread; the pool forgets it at the next refresh.
        log.info("mailbox %s: %s", mailbox_id, "another poller took it over")
        with self._lost_lock:
            self._lost.add(mailbox_id)

    def _retire(self, mailbox_id: int) -> None:
        keeper = self.keepers.pop(mailbox_id, None)
        if keeper is not None:
            keeper.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every keeper and wait (up to `timeout` in all) for them to log out."""
        keepers = list(self.keepers.values())
        keepers += [keeper for keeper in self._shedding.values() if keeper is not None]
        self.keepers.clear()
        self._shedding.clear()
        for keeper in keepers:
            keeper.stop()
        for keeper in keepers:
            keeper.join(max(0.1, timeout / max(1, len(keepers))))

    def stats(self) -> str:
        counters = self.counters
        with counters.lock:
            logins = sum(counters.logins.values())
            syncs, wakeups = sum(counters.syncs.values()), sum(counters.wakeups.values())
        connected = sum(1 for keeper in self.keepers.values() if keeper.connected)
        return (
            f"mailboxes={len(self.keepers)} connected={connected} logins={logins} "
            f"syncs={syncs} wakeups={wakeups} pollers={self.share.pollers} "
            f"share={self.share.target}/{self.share.mailboxes}"
        )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def make_pool(
    factory: sessionmaker[Session],
    box: SecretBox,
    context: ssl.SSLContext,
    tokens: AccessTokens | None,
    holder: Holder,
    limits: Limits,
    clock: Callable[[], datetime],
    policy: AddressPolicy = ANY_ADDRESS,
    database: DatabaseState | None = None,
) -> Pool:
    """A poller's pool of kept connections, with nothing connected yet (see Pool.refresh)."""
    wiring = Wiring(
        factory=factory,
        context=context,
        tokens=tokens,
        clock=clock,
        holder=holder,
        limits=limits,
        hosts=Slots(lambda _host: limits.per_host),
        # An account's key is "host:port/user name".
        accounts=Slots(lambda account: limits.account_limit(account.split(":", 1)[0])),
        counters=Counters(),
        database=database or DatabaseState(),
        policy=policy,
    )
    return Pool(box, wiring)
