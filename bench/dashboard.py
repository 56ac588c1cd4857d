"""Dashboard: the status board and the approvals page under 20 concurrent clients.

Issue 7, item 4. One user with 10,000 contacts, all on 20 targets of 500 names,
and 500 request drafts (25 in flight per target), seeded through the core use
cases. The real `python -m outreach.cli web` serves it (gunicorn, one process per
core, 4 threads each; with a private Redis for its throttling counters, as
`outreach up` gives it); a small threaded load client (http.client, keep-alive,
the logged-in session cookie) runs 20 clients in a closed loop against each page
in turn. `--postgres` runs it all on a fresh PostgreSQL database (the machine's
server on 127.0.0.1:5432, else a throwaway cluster) instead of a SQLite file.

Baselines from the same server in the same run: /healthz (no login, no
database) and a static file (/static/style.css).

Queries per request are counted in-process (create_app + Flask's test client,
a before_cursor_execute listener on the app's engine), at the full size and at
a small size (100 contacts, 10 drafts): a page whose count grows with the data
runs a query per row (N+1).

`--profile` runs one board request in-process under pyinstrument (not a
project dependency: `pip install pyinstrument`) and writes the profile to
bench/results/dashboard-board-profile.txt.

Usage: python bench/dashboard.py [--quick] [--clients 20] [--postgres] [--profile]
Asserts nothing; prints a table and writes bench/results/dashboard-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._send_helpers import (  # noqa: E402
    Instance,
    machine_info,
    machine_line,
    new_instance,
    percentile,
    print_table,
    say,
    scratch_dir,
    seed_account,
    seed_contacts,
    seed_drafts,
    tls_files,
    tree_cpu_ticks,
    wait_until,
    write_results,
)

EMAIL = "sam@example.test"
PASSWORD = "bench passphrase"  # what seed_account gives every user
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
COOKIE = re.compile(r"^(session=[^;]*)")


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    login: bool
    requests: int  # in all, shared by the clients (full run; --quick takes a quarter)
    # A writer changes one of the user's contacts this often (seconds) during the run:
    # every board after a change is rendered anew (web.page_cache), not served kept.
    change_every: float | None = None


PAGES = (
    Page("baseline: /healthz", "/healthz", False, 4000),
    Page("baseline: static file", "/static/style.css", False, 4000),
    Page("status board /", "/", True, 2000),
    Page("status board /, a change every 0.25 s", "/", True, 2000, change_every=0.25),
    Page("approvals /drafts", "/drafts", True, 100),
)


def seed(instance: Instance, contacts: int, drafts: int, targets: int) -> dict[str, int]:
    """One user: `contacts` contacts spread over `targets` targets, `drafts` request drafts."""
    from sqlalchemy import func, select, text

    from outreach.crypto import SecretBox
    from outreach.db import make_engine, make_sessionmaker, session_scope
    from outreach.models import Message, MessageStatus, Outreach, User

    engine = make_engine(instance.database_url)
    try:
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            box = SecretBox(instance.encryption_keys)
            # No mail server is contacted by these pages; the mailbox only has to exist.
            account = seed_account(session, box, EMAIL, "mail-secret", smtp_port=1, imap_port=1)
            user = session.get_one(User, account.user_id)
            ids = seed_contacts(session, user, contacts, "c")
            size = -(-len(ids) // targets)
            for k in range(targets):
                in_flight = drafts // targets + (1 if k < drafts % targets else 0)
                chunk = ids[k * size : (k + 1) * size]
                seed_drafts(session, user, f"Target {k + 1:02d}", chunk, in_flight)
        with engine.connect() as db:
            count = {
                "contacts": contacts,
                "outreaches": db.scalar(select(func.count()).select_from(Outreach)) or 0,
                "drafts": db.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.status == MessageStatus.DRAFT)
                )
                or 0,
            }
        if engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of a bulk load: without statistics the
            # planner takes the 10,000 fresh rows for a few dozen and picks slow plans.
            with engine.connect() as db:
                db.execute(text("ANALYZE"))
                db.commit()
    finally:
        engine.dispose()
    return count


# --- queries per request, in-process ---------------------------------------------------------


def count_queries(instance: Instance, pages: tuple[Page, ...]) -> dict[str, dict[str, Any]]:
    """Per page: SQL statements run, the most repeated one's count, and one request's time."""
    from flask.testing import FlaskClient
    from sqlalchemy import event

    from outreach.config import Settings
    from web.app import create_app

    app = create_app(Settings.from_env(instance.env))
    engine = app.extensions["outreach"].engine
    statements: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    client: FlaskClient = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token is not None, "no CSRF token on /login"
    client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
    found: dict[str, dict[str, Any]] = {}
    try:
        for page in pages:
            client.get(page.path)  # warm: templates compiled, statement cache filled
            if page.change_every is not None:
                # What a board costs after a change: rendered anew, the figures too.
                app.extensions["outreach"].board_pages.clear()
                app.extensions["outreach"].board_figures.clear()
            statements.clear()
            started = time.perf_counter()
            response = client.get(page.path)
            elapsed = time.perf_counter() - started
            repeated = Counter(statements).most_common(1)
            found[page.name] = {
                "status": response.status_code,
                "bytes": len(response.data),
                "queries": len(statements),
                "most_repeated": repeated[0][1] if repeated else 0,
                "most_repeated_sql": " ".join(repeated[0][0].split())[:160] if repeated else "",
                "single_ms": round(elapsed * 1000, 1),
            }
    finally:
        event.remove(engine, "before_cursor_execute", _count)
        app.extensions["outreach"].close()
    return found


# --- load ------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection that sends the session cookie."""

    def __init__(self, port: int, cookie: str | None) -> None:
        self.port = port
        self.cookie = cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[int, int]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, len(body)
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                # gunicorn closes idle keep-alive connections after 2 s; open a new one.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def log_in(port: int) -> str:
    """Log in over HTTP as a browser would; returns the session cookie."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        page = response.read().decode()
        cookie = COOKIE.match(response.getheader("Set-Cookie", ""))
        token = CSRF.search(page)
        assert cookie and token, "no session cookie or CSRF token on /login"
        from urllib.parse import urlencode

        body = urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie.group(1),
            },
        )
        response = conn.getresponse()
        response.read()
        signed_in = COOKIE.match(response.getheader("Set-Cookie", ""))
        assert response.status == 302 and signed_in, f"login failed: {response.status}"
        return signed_in.group(1)
    finally:
        conn.close()


def load(port: int, path: str, cookie: str | None, clients: int, total: int) -> dict[str, Any]:
    """`clients` threads, each requesting `path` back to back until `total` are done."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    lock = threading.Lock()
    remaining = [total]
    errors: list[BaseException] = []
    start_line = threading.Barrier(clients + 1)

    def run() -> None:
        client = Client(port, cookie)
        try:
            start_line.wait()
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                status, size = client.get(path)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    statuses[status] += 1
                    sizes.append(size)
        except BaseException as error:  # noqa: BLE001 - reported after the run
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed on {path}: {errors[0]!r}")
    return {
        "requests": len(latencies),
        "wall_s": round(wall, 2),
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
        "statuses": dict(statuses),
        "bytes": max(sizes) if sizes else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 contacts, 100 drafts, fewer requests"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--contacts", type=int, help="contacts (default 10000)")
    parser.add_argument("--drafts", type=int, help="request drafts (default 500)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="pyinstrument one board request")
    parser.add_argument(
        "--processes", type=int, help="OUTREACH_WEB_PROCESSES for the server (default: cores)"
    )
    args = parser.parse_args(argv)
    contacts = args.contacts or (2000 if args.quick else 10_000)
    drafts = args.drafts or (100 if args.quick else 500)
    share = 4 if args.quick else 1

    info = machine_info()
    say(machine_line(info))
    with (
        scratch_dir("outreach-bench-dashboard-") as root,
        _servers(root, args.postgres) as (
            new_database,
            redis_url,
        ),
    ):
        tls = tls_files(root)
        small = new_instance(root, "small", tls, database_url=new_database())
        small.cli("db", "upgrade")
        seed(small, 100, 10, 10)
        queries_small = count_queries(small, PAGES)

        from tests.servers.net import free_port

        port = free_port()
        server_env = {"OUTREACH_PORT": str(port)}
        if args.processes:
            server_env["OUTREACH_WEB_PROCESSES"] = str(args.processes)
        full = new_instance(
            root, "full", tls, redis_url=redis_url, database_url=new_database(), **server_env
        )
        full.cli("db", "upgrade")
        say(f"seeding {contacts} contacts and {drafts} drafts")
        seeded = time.perf_counter()
        sizes = seed(full, contacts, drafts, 20)
        seed_s = time.perf_counter() - seeded
        say(f"seeded in {seed_s:.1f} s: {sizes}")
        queries_full = count_queries(full, PAGES)
        if args.profile:
            profile_board(full)

        web = full.start("web", "web")
        loads: dict[str, dict[str, Any]] = {}
        try:
            wait_until(
                lambda: _answers(port) or web.poll() is not None, 30, "the dashboard to answer"
            )
            if web.poll() is not None:
                raise RuntimeError(f"outreach web exited:\n{full.log_tail('web')}")
            cookie = log_in(port)
            for page in PAGES:
                total = max(args.clients, page.requests // share)
                Client(port, cookie if page.login else None).get(page.path)  # warm
                say(f"{page.name}: {total} requests from {args.clients} clients")
                cpu_before = tree_cpu_ticks(web.pid)
                with _changing(full, page.change_every) as changes:
                    result = load(
                        port, page.path, cookie if page.login else None, args.clients, total
                    )
                cpu = (tree_cpu_ticks(web.pid) - cpu_before) / _ticks()
                result["server_cpu_ms_per_req"] = round(cpu / result["requests"] * 1000, 2)
                result["changes"] = changes[0]
                loads[page.name] = result
        finally:
            full.stop_all()

    database = "PostgreSQL" if args.postgres else "SQLite"
    processes = args.processes or _cores()
    server = f"outreach web: gunicorn gthread, {processes} process(es), 4 threads; {database}"
    results = report(info, sizes, args.clients, loads, queries_small, queries_full, seed_s, server)
    path = write_results("dashboard", results)
    print(f"\nsaved {path}")
    return 0


@contextmanager
def _changing(instance: Instance, every: float | None) -> Iterator[list[int]]:
    """While the block runs, a contact of the user edited every `every` seconds, through
    a session as the dashboard's contact page would; yields the count of changes made."""
    made = [0]
    if every is None:
        yield made
        return
    from sqlalchemy import select

    from outreach.db import make_engine, make_sessionmaker, session_scope
    from outreach.models import Contact

    engine = make_engine(instance.database_url)
    stop = threading.Event()

    def write() -> None:
        factory = make_sessionmaker(engine)
        while not stop.wait(every):
            with session_scope(factory) as session:
                contact = session.scalars(select(Contact).order_by(Contact.id).limit(1)).one()
                contact.organisation = f"Institute, edit {made[0]}"
            made[0] += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        yield made
    finally:
        stop.set()
        writer.join()
        engine.dispose()


@contextmanager
def _servers(root: Path, postgres: bool) -> Iterator[tuple[Callable[[], str | None], str]]:
    """A maker of fresh databases (None: a SQLite file per instance) and a Redis URL."""
    from tests.servers.redis import start_redis

    redis = start_redis(root / "redis")
    server = None
    try:
        if postgres:
            from tests.servers.postgres import start_postgres

            server = start_postgres()
            yield server.create_database, redis.url
        else:
            yield (lambda: None), redis.url
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def profile_board(instance: Instance) -> None:
    """One warm board request in-process under pyinstrument; the profile goes to a file."""
    from pyinstrument import Profiler

    from bench._send_helpers import RESULTS_DIR
    from outreach.config import Settings
    from web.app import create_app

    app = create_app(Settings.from_env(instance.env))
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token is not None, "no CSRF token on /login"
    client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
    try:
        client.get("/")  # warm: templates compiled, statement cache filled
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(20):
            client.get("/")
        profiler.stop()
    finally:
        app.extensions["outreach"].close()
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "dashboard-board-profile.txt"
    path.write_text(profiler.output_text(unicode=False, color=False))
    say(f"profile of 20 board requests written to {path}")


def _ticks() -> int:
    import os

    return os.sysconf("SC_CLK_TCK")


def _answers(port: int) -> bool:
    try:
        return Client(port, None).get("/healthz")[0] == 200
    except OSError:
        return False


def report(
    info: dict[str, Any],
    sizes: dict[str, int],
    clients: int,
    loads: dict[str, dict[str, Any]],
    queries_small: dict[str, dict[str, Any]],
    queries_full: dict[str, dict[str, Any]],
    seed_s: float,
    server: str,
) -> dict[str, Any]:
    print(machine_line(info))
    healthz = loads[PAGES[0].name]["p95_ms"]
    rows = []
    for page in PAGES:
        result = loads[page.name]
        full, small = queries_full[page.name], queries_small[page.name]
        rows.append(
            [
                page.name,
                result["requests"],
                result["req_per_s"],
                result["p50_ms"],
                result["p95_ms"],
                result["max_ms"],
                f"{result['p95_ms'] / healthz:.1f}x" if healthz else "-",
                f"{full['bytes'] / 1024:.0f}",
                full["single_ms"],
                result["server_cpu_ms_per_req"],
                f"{small['queries']} / {full['queries']}",
                ",".join(f"{k}:{v}" for k, v in sorted(result["statuses"].items())),
                result["changes"] if page.change_every is not None else "-",
            ]
        )
    print_table(
        f"Dashboard: {sizes['contacts']} contacts, {sizes['outreaches']} on targets, "
        f"{sizes['drafts']} drafts; {clients} concurrent clients; {server}",
        ["page", "reqs", "req/s", "p50 ms", "p95 ms", "max ms", "p95 vs healthz", "KiB",
         "alone ms", "server CPU ms/req", "queries small/full", "HTTP", "changes"],
        rows,
    )  # fmt: skip
    for page in PAGES:
        full = queries_full[page.name]
        if full["most_repeated"] > 2:
            print(
                f"  {page.name}: one statement runs {full['most_repeated']} times per request: "
                f"{full['most_repeated_sql']}"
            )
    print(
        "  (alone ms, queries: one request in-process; for the changing board, one rendered "
        "anew with its figures read again: what each board after a change costs)"
    )
    board, changing, approvals = (loads[page.name] for page in PAGES[2:5])
    rendered = PAGES[3].name
    targets = {
        "board_p95_ms": board["p95_ms"],
        "board_changing_p95_ms": changing["p95_ms"],
        "approvals_p95_ms": approvals["p95_ms"],
        "p95_target_ms": 150,
        "board_queries_constant": queries_small[rendered]["queries"]
        == queries_full[rendered]["queries"],
        "approvals_queries_constant": queries_small[PAGES[4].name]["queries"]
        == queries_full[PAGES[4].name]["queries"],
    }
    print("\ntargets: " + ", ".join(f"{k}={v}" for k, v in targets.items()))
    return {
        "machine": info,
        "data": sizes,
        "seed_s": round(seed_s, 1),
        "clients": clients,
        "server": server,
        "load": loads,
        "queries": {"small": queries_small, "full": queries_full},
        "targets": targets,
    }


if __name__ == "__main__":
    sys.exit(main())
