"""Many users on PostgreSQL: `outreach cycle run` over every user, and one user's board.

Issue 17, "Many users on PostgreSQL". 1,000 users with 200 contacts each (200,000
contacts) on a fresh PostgreSQL database (the machine's server on 127.0.0.1:5432,
else a throwaway cluster).

Seeding: one user is built through the core use cases (an account and a mailbox,
200 contacts on 4 targets of 50 names, 5 requests in flight on each, approved and
recorded sent, so 20 outreaches wait on the cycle's clock). The others are copies
of that user made by PostgreSQL itself (INSERT ... SELECT over generate_series, one
statement per table, ids shifted and unique text made unique), so 200,000 contacts
load in seconds and every user's data has the shape the product gives it.

Then, with every user's data in place:
- `outreach cycle run`, the real command in a fresh process, timed from start to
  exit: first with a follow-up due for one user in ten (a busy round), then again
  with nothing left due (the round every sweep interval pays), then with a follow-up
  due for every user (1,000 at once), then giving up on one name of one user in ten
  (each drafts the list's next name). Baseline: the same command on an empty
  database (Python start-up, imports, connecting).
- the status board of one user among them under 20 clients (the real `outreach web`),
  p95 next to /healthz on the same server.

Usage: python bench/many_users.py [--quick] [--users N] [--contacts-per-user 200]
(--quick: 100 users, fewer requests). Asserts nothing; prints a table and writes
bench/results/many_users-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._send_helpers import (  # noqa: E402
    Instance,
    machine_info,
    machine_line,
    new_instance,
    print_table,
    say,
    scratch_dir,
    seed_account,
    seed_contacts,
    tls_files,
    tree_cpu_ticks,
    utcnow,
    wait_until,
    write_results,
)
from bench.dashboard import Client, load  # noqa: E402

EMAIL = "sam@example.test"
PASSWORD = "bench passphrase"  # what seed_account gives every user
TARGETS = 4
IN_FLIGHT = 5
# Goals from issue 17.
CYCLE_GOAL_S = 5.0
BOARD_GOAL_MS = 150.0


def seed_template(instance: Instance, contacts: int) -> int:
    """One user through the core use cases; returns its id."""
    from outreach.crypto import SecretBox
    from outreach.db import make_engine, make_sessionmaker, session_scope
    from outreach.drafts import approve
    from outreach.models import User
    from outreach.sending import record_sent
    from outreach.targets import create_target, fill_pipeline
    from tests.servers.net import free_port

    engine = make_engine(instance.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            box = SecretBox(instance.encryption_keys)
            port = free_port()  # no server answers there: nothing is sent in this benchmark
            account = seed_account(
                session, box, EMAIL, "mail-secret", smtp_port=port, imap_port=port
            )
            user = session.get_one(User, account.user_id)
            ids = seed_contacts(session, user, contacts, "c")
            size = -(-len(ids) // TARGETS)
            now = utcnow()
            for k in range(TARGETS):
                target = create_target(
                    session,
                    user,
                    f"Target {k + 1}",
                    ids[k * size : (k + 1) * size],
                    max_in_flight=IN_FLIGHT,
                    allow_same_organisation=True,
                )
                for draft in fill_pipeline(session, user, target, now):
                    approve(session, user, draft.id, now)
                    record_sent(session, draft.id, now)
            return account.user_id
    finally:
        engine.dispose()


def copy_user(instance: Instance, template_id: int, copies: int) -> dict[str, int]:
    """`copies` copies of the user `template_id` and everything that is theirs; rows per table.

    Each table's rows of the template (its own, by user_id, or through a foreign
    key to a copied table) are inserted again per copy k with every id and every
    reference to a copied table shifted by k * stride, and the text of unique
    columns made unique (an address gets +u<k> before its @).
    """
    from sqlalchemy import Integer, String, Text, func, select, text

    from outreach.db import make_engine
    from outreach.models import Base

    engine = make_engine(instance.database_url)
    conditions: dict[str, str] = {}
    counts: dict[str, int] = {}
    try:
        with engine.begin() as db:
            for table in Base.metadata.sorted_tables:
                condition = _owned_rows(table, template_id, conditions)
                if condition is None:
                    continue
                found = db.scalar(text(f"SELECT count(*) FROM {table.name} WHERE {condition}"))
                if found:
                    conditions[table.name] = condition
            stride = 1 + max(
                db.scalar(select(func.max(Base.metadata.tables[name].c.id))) or 0
                for name in conditions
                if "id" in Base.metadata.tables[name].c
            )
            for table in Base.metadata.sorted_tables:
                if table.name not in conditions:
                    continue
                unique_text = _unique_text_columns(table, conditions)
                columns, values = [], []
                for column in table.c:
                    name = column.name
                    columns.append(f'"{name}"')
                    shifted = (name == "id" and isinstance(column.type, Integer)) or any(
                        key.column.table.name in conditions for key in column.foreign_keys
                    )
                    if shifted:
                        values.append(f'"{name}" + k * {stride}')
                    elif name in unique_text and isinstance(column.type, String | Text):
                        values.append(
                            f"CASE WHEN strpos(\"{name}\", '@') > 0 "
                            f"THEN replace(\"{name}\", '@', '+u' || k || '@') "
                            f"ELSE \"{name}\" || '-' || k END"
                        )
                    else:
                        values.append(f'"{name}"')
                db.execute(
                    text(
                        f"INSERT INTO {table.name} ({', '.join(columns)}) "
                        f"SELECT {', '.join(values)} FROM {table.name}, "
                        f"generate_series(1, {copies}) AS k WHERE {conditions[table.name]}"
                    )
                )
                if "id" in table.c:
                    db.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT max(id) FROM {table.name}))"
                        )
                    )
                counts[table.name] = db.scalar(text(f"SELECT count(*) FROM {table.name}")) or 0
        with engine.connect() as db:
            # What autovacuum does soon after a bulk load: the planner needs the statistics.
            db.execute(text("ANALYZE"))
            db.commit()
    finally:
        engine.dispose()
    return counts


def _owned_rows(table: Any, template_id: int, owned: dict[str, str]) -> str | None:
    if table.name == "users":
        return f"id = {template_id}"
    if "user_id" in table.c:
        return f"user_id = {template_id}"
    for key in table.foreign_keys:
        parent = key.column.table.name
        if parent in owned:
            return f"{key.parent.name} IN (SELECT id FROM {parent} WHERE {owned[parent]})"
    return None


def _unique_text_columns(table: Any, copied: dict[str, str]) -> set[str]:
    """Text columns of unique constraints that hold no shifted id (those stay unique)."""
    from sqlalchemy import UniqueConstraint

    groups = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [list(index.columns) for index in table.indexes if index.unique]
    found: set[str] = set()
    for group in groups:
        if any(
            column.name == "id" or any(k.column.table.name in copied for k in column.foreign_keys)
            for column in group
        ):
            continue
        found.update(column.name for column in group)
    return found


def make_due(instance: Instance, every: int) -> int:
    """Put one waiting outreach of every `every`-th user past its follow-up date (one
    with no follow-up yet, so the step due is drafting one)."""
    return _set_due(
        instance,
        f"state = 'waiting' AND user_id % {every} = 0 AND NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.outreach_id = outreaches.id "
        "AND m.kind = 'follow_up')",
    )


def make_give_ups_due(instance: Instance, every: int) -> int:
    """Put one outreach of every `every`-th user whose follow-up was drafted past its
    date: the cycle gives up on it ("no reply") and drafts the list's next name."""
    return _set_due(
        instance,
        f"state = 'waiting' AND user_id % {every} = 0 AND EXISTS "
        "(SELECT 1 FROM messages m WHERE m.outreach_id = outreaches.id "
        "AND m.kind = 'follow_up')",
    )


def _set_due(instance: Instance, condition: str) -> int:
    from sqlalchemy import text

    from outreach.db import make_engine

    engine = make_engine(instance.database_url)
    try:
        with engine.begin() as db:
            result = db.execute(
                text(
                    "UPDATE outreaches SET next_step_at = now() - interval '1 hour' "
                    "WHERE id IN (SELECT min(id) FROM outreaches "
                    f"WHERE {condition} GROUP BY user_id)"
                )
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def cycle_in_process(instance: Instance) -> dict[str, Any]:
    """run_due_steps alone, in this process, rolled back afterwards: the scheduler's own
    time and statements, without the interpreter's start (which the shared machine's
    load swings by seconds)."""
    from sqlalchemy import event

    from outreach.db import make_engine, make_sessionmaker
    from outreach.scheduler import run_due_steps

    engine = make_engine(instance.database_url)
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        session = make_sessionmaker(engine)()
        try:
            cpu = time.process_time()
            started = time.perf_counter()
            lines = run_due_steps(session, utcnow())
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
        finally:
            session.rollback()
            session.close()
    finally:
        engine.dispose()
    return {
        "s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "statements": statements[0],
        "steps": len(lines),
    }


def timed_cycle_run(instance: Instance) -> tuple[float, str]:
    started = time.perf_counter()
    out = instance.cli("cycle", "run", timeout=600)
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 users, fewer requests")
    parser.add_argument("--users", type=int, help="users (default 1000)")
    parser.add_argument("--contacts-per-user", type=int, default=200)
    parser.add_argument("--due-every", type=int, default=10, help="a follow-up due per N users")
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args(argv)
    users = args.users or (100 if args.quick else 1000)
    board_requests = 100 if args.quick else 400

    from tests.servers.net import free_port
    from tests.servers.postgres import start_postgres
    from tests.servers.redis import start_redis

    info = machine_info()
    say(machine_line(info))
    results: dict[str, Any] = {}
    with scratch_dir("outreach-bench-many-") as root:
        tls = tls_files(root)
        redis = start_redis(root / "redis")
        server = start_postgres()
        try:
            empty = new_instance(root, "empty", tls, database_url=server.create_database())
            empty.cli("db", "upgrade")
            timed_cycle_run(empty)  # warm the file cache for the imports
            baseline_s = min(timed_cycle_run(empty)[0] for _ in range(3))

            port = free_port()
            full = new_instance(
                root,
                "full",
                tls,
                redis_url=redis.url,
                database_url=server.create_database(),
                OUTREACH_PORT=str(port),
            )
            full.cli("db", "upgrade")
            say(f"seeding one user with {args.contacts_per_user} contacts")
            started = time.perf_counter()
            template = seed_template(full, args.contacts_per_user)
            say(f"copying it {users - 1} times in PostgreSQL")
            counts = copy_user(full, template, users - 1)
            seed_s = time.perf_counter() - started
            say(
                f"seeded in {seed_s:.1f} s: {counts.get('users')} users, "
                f"{counts.get('contacts')} contacts, {counts.get('outreaches')} outreaches"
            )
            rounds: list[dict[str, Any]] = []

            def cycle_round(label: str, due: int) -> None:
                say(f"cycle run: {label}")
                inside = cycle_in_process(full)
                wall_s, out = timed_cycle_run(full)
                steps = len([line for line in out.splitlines() if line.strip()])
                if out.strip() == "nothing was due":
                    steps = 0
                rounds.append(
                    {"label": label, "due": due, "s": wall_s, "steps": steps, "inside": inside}
                )

            due = make_due(full, args.due_every)
            cycle_round(f"{due} follow-ups due", due)
            cycle_round("nothing due", 0)
            many = make_due(full, 1)
            cycle_round(f"{many} follow-ups due", many)
            gone = make_give_ups_due(full, args.due_every)
            cycle_round(f"{gone} give-ups due (next names drafted)", gone)

            board = board_load(full, port, args.clients, board_requests)
        finally:
            server.stop()
            redis.stop()
    results = report(info, users, counts, seed_s, baseline_s, rounds, board)
    path = write_results("many_users", results)
    print(f"\nsaved {path}")
    return 0


def board_load(instance: Instance, port: int, clients: int, requests: int) -> dict[str, Any]:
    """The board of one user in the middle of the others, and /healthz, under `clients`."""
    from bench.dashboard import log_in

    web = instance.start("web", "web")
    try:
        wait_until(lambda: _answers(port) or web.poll() is not None, 60, "the dashboard to answer")
        if web.poll() is not None:
            raise RuntimeError(f"outreach web exited:\n{instance.log_tail('web')}")
        cookie = log_in(port)
        found = {}
        for name, path, login, total in (
            ("baseline: /healthz", "/healthz", False, requests * 10),
            ("status board /", "/", True, requests),
        ):
            Client(port, cookie if login else None).get(path)  # warm
            say(f"{name}: {total} requests from {clients} clients")
            cpu_before = tree_cpu_ticks(web.pid)
            result = load(port, path, cookie if login else None, clients, total)
            cpu = (tree_cpu_ticks(web.pid) - cpu_before) / _ticks()
            result["server_cpu_ms_per_req"] = round(cpu / result["requests"] * 1000, 2)
            found[name] = result
        return found
    finally:
        instance.stop_all()


def _answers(port: int) -> bool:
    try:
        return Client(port, None).get("/healthz")[0] == 200
    except OSError:
        return False


def _ticks() -> int:
    import os

    return os.sysconf("SC_CLK_TCK")


def report(
    info: dict[str, Any],
    users: int,
    counts: dict[str, int],
    seed_s: float,
    baseline_s: float,
    rounds: list[dict[str, Any]],
    board: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    print(machine_line(info))
    print_table(
        f"outreach cycle run over {users} users, {counts.get('contacts', 0)} contacts "
        f"(PostgreSQL; goal < {CYCLE_GOAL_S:.0f} s)",
        ["run", "wall s", "steps taken", "vs empty database", "scheduler s", "CPU s", "SQL"],
        [
            ["baseline: empty database", round(baseline_s, 2), 0, "1.0x", "-", "-", "-"],
            *(
                [
                    r["label"],
                    round(r["s"], 2),
                    r["steps"],
                    f"{r['s'] / baseline_s:.1f}x",
                    r["inside"]["s"],
                    r["inside"]["cpu_s"],
                    r["inside"]["statements"],
                ]
                for r in rounds
            ),
        ],
    )
    print("(scheduler s, CPU s, SQL: run_due_steps alone, in-process, rolled back)")
    rows = [
        [name, r["requests"], r["req_per_s"], r["p50_ms"], r["p95_ms"], r["server_cpu_ms_per_req"]]
        for name, r in board.items()
    ]
    print_table(
        f"One user's board among {users} users (goal p95 < {BOARD_GOAL_MS:.0f} ms)",
        ["page", "requests", "req/s", "p50 ms", "p95 ms", "server CPU ms/req"],
        rows,
    )
    return {
        "machine": info,
        "users": users,
        "rows": counts,
        "seed_s": round(seed_s, 1),
        "cycle_run_empty_s": round(baseline_s, 3),
        "cycle_rounds": [{**r, "s": round(r["s"], 3)} for r in rounds],
        "cycle_goal_s": CYCLE_GOAL_S,
        "board": board,
        "board_goal_p95_ms": BOARD_GOAL_MS,
    }


if __name__ == "__main__":
    sys.exit(main())
