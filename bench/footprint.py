"""Footprint: resident memory of the poller watching 1, 10 and 100 mailboxes, and of a worker.

Issue 7, item 5. Each mailbox is a user of its own on one test Dovecot (IMAP with
STARTTLS), connected in a fresh instance through the core use cases. The real
`python -m outreach.cli poller` runs until every mailbox is leased to it and has
its IDLE connection open (ESTABLISHED sockets to Dovecot counted from /proc) and
the process has been idle for a moment; then VmRSS is read from /proc/<pid>/status
(summed over the process tree) for a few seconds, and VmHWM gives the peak.

The worker (`python -m outreach.cli worker`: the RQ worker plus its spawned
sweeper process) is measured idle and after sending 20 messages to the test SMTP
server, with the peak of its tree (work horses included) sampled meanwhile.
PSS (shared pages split between processes) is given next to the RSS sum.

Baselines in the same run: a bare `python -c` that sleeps, and one that has only
imported the poller's and the worker's modules.

Usage: python bench/footprint.py [--quick] [--mailboxes 1,10,100]
Asserts nothing; prints a table and writes bench/results/footprint-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._send_helpers import (  # noqa: E402
    REPO,
    Instance,
    approve_all,
    command_line,
    established_to,
    hwm_kib,
    machine_info,
    machine_line,
    new_instance,
    print_table,
    process_tree,
    pss_kib,
    rss_kib,
    say,
    scratch_dir,
    seed_account,
    seed_contacts,
    seed_drafts,
    threads_of,
    tls_files,
    tree_cpu_ticks,
    wait_until,
    write_results,
)

SAMPLE_SECONDS = 3.0
IMPORTS = "import outreach.cli, workers.poller, workers.worker, workers.jobs"


def tree_memory(pid: int) -> dict[str, int]:
    members = process_tree(pid)
    return {
        "processes": len(members),
        "rss_kib": sum(rss_kib(member) for member in members),
        "pss_kib": sum(pss_kib(member) for member in members),
        "hwm_kib": sum(hwm_kib(member) for member in members),
        "threads": sum(threads_of(member) for member in members),
        "members": [{"pid": m, "rss_kib": rss_kib(m), "command": command_line(m)} for m in members],
    }


def sample(pid: int, seconds: float) -> dict[str, int]:
    """Tree memory sampled every 0.1 s for `seconds`: the last reading, with the max RSS seen."""
    peak = 0
    last: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last = tree_memory(pid)
        peak = max(peak, last["rss_kib"])
        time.sleep(0.1)
    return {**last, "rss_max_kib": peak}


def quiet(pid: int, seconds: float = 1.0) -> bool:
    """True when the tree used (almost) no CPU for `seconds`."""
    before = tree_cpu_ticks(pid)
    time.sleep(seconds)
    return tree_cpu_ticks(pid) - before <= 2


def baseline(root: Path, name: str, code: str) -> dict[str, Any]:
    """RSS of a python process that runs `code` and then sleeps."""
    log = root / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{code}\nimport time\nprint('ready', flush=True)\ntime.sleep(600)",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: b"ready" in log.read_bytes() or proc.poll() is not None, 60, name)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()}")
        return sample(proc.pid, 0.5)
    finally:
        proc.kill()
        proc.wait()


def seed_mailboxes(instance: Instance, dovecot: Any, count: int) -> None:
    from outreach.crypto import SecretBox
    from outreach.db import make_engine, make_sessionmaker, session_scope

    engine = make_engine(instance.database_url)
    box = SecretBox(instance.encryption_keys)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for n in range(count):
                email = f"watch{n}@example.test"
                seed_account(
                    session,
                    box,
                    email,
                    dovecot.users[email],
                    smtp_port=1,
                    imap_port=dovecot.imap_port,
                    imap_tls="starttls",
                    pace_off=False,
                )
    finally:
        engine.dispose()


def leased(instance: Instance) -> int:
    from sqlalchemy import func, select

    from outreach.db import make_engine
    from outreach.models import Mailbox

    engine = make_engine(instance.database_url)
    try:
        with engine.connect() as db:
            return (
                db.scalar(
                    select(func.count()).select_from(Mailbox).where(Mailbox.poll_owner.is_not(None))
                )
                or 0
            )
    finally:
        engine.dispose()


def measure_poller(root: Path, tls: Any, dovecot: Any, count: int) -> dict[str, Any]:
    instance = new_instance(root, f"poller-{count}", tls)
    instance.cli("db", "upgrade")
    seed_mailboxes(instance, dovecot, count)
    proc = instance.start("poller", "poller")
    started = time.monotonic()
    try:

        def settled() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the poller exited:\n{instance.log_tail('poller')}")
            return (
                established_to(proc.pid, dovecot.imap_port) >= count
                and leased(instance) >= count
                and quiet(proc.pid, 0.5)
            )

        wait_until(settled, 120, f"the poller to lease and IDLE on {count} mailboxes", poll=0.2)
        settle_s = time.monotonic() - started
        found = sample(proc.pid, SAMPLE_SECONDS)
        found["idle_connections"] = established_to(proc.pid, dovecot.imap_port)
        found["settle_s"] = round(settle_s, 1)
        return found
    finally:
        instance.stop(proc)


def measure_worker(root: Path, tls: Any, redis_url: str, smtp: Any, sends: int) -> dict[str, Any]:
    from redis import Redis
    from rq import Worker

    from outreach.crypto import SecretBox
    from outreach.db import make_engine, make_sessionmaker, session_scope
    from outreach.models import Message, MessageStatus, User
    from workers.queues import enqueue_send

    instance = new_instance(root, "worker", tls, redis_url, OUTREACH_SWEEP_INTERVAL="86400")
    instance.cli("db", "upgrade")
    engine = make_engine(instance.database_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        account = seed_account(
            session,
            SecretBox(instance.encryption_keys),
            "sender@example.test",
            "smtp-secret",
            smtp_port=smtp.port,
            imap_port=1,
        )
        user = session.get_one(User, account.user_id)
        drafted = seed_drafts(
            session, user, "Bench", seed_contacts(session, user, sends, "w"), sends
        )
        approve_all(session, user, drafted)
    smtp.users[account.email] = account.password
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    proc = instance.start("worker", "worker")
    try:
        wait_until(
            lambda: len(Worker.all(connection=connection)) >= 1 and quiet(proc.pid, 0.5),
            60,
            "the worker to register and go idle",
            poll=0.2,
        )
        idle = sample(proc.pid, 1.0)
        for message_id in drafted:
            enqueue_send(connection, message_id)
        peak = 0
        peak_pss = 0

        def all_sent() -> bool:
            nonlocal peak, peak_pss
            now = tree_memory(proc.pid)
            peak = max(peak, now["rss_kib"])
            peak_pss = max(peak_pss, now["pss_kib"])
            with engine.connect() as db:
                rows = db.execute(
                    Message.__table__.select().where(Message.status == MessageStatus.SENT)
                ).all()
            return len(rows) >= sends

        wait_until(all_sent, 120, f"{sends} messages to be sent", poll=0.02)
        after = sample(proc.pid, 1.0)
        return {"idle": idle, "after_sends": after, "sends": sends, "peak_rss_kib": peak,
                "peak_pss_kib": peak_pss}  # fmt: skip
    finally:
        instance.stop(proc)
        engine.dispose()
        connection.flushdb()
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 mailboxes only")
    parser.add_argument("--mailboxes", help="comma-separated mailbox counts (default 1,10,100)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in (args.mailboxes or ("1,10" if args.quick else "1,10,100")).split(",")]

    from tests.servers.dovecot import DovecotServer
    from tests.servers.redis import start_redis
    from tests.servers.smtpd import RecordingSMTPServer

    info = machine_info()
    say(machine_line(info))
    pollers: dict[int, dict[str, Any]] = {}
    with scratch_dir("outreach-bench-footprint-") as root:
        tls = tls_files(root)
        say("baselines: bare python, and python with the modules imported")
        bare = baseline(root, "bare", "pass")
        imported = baseline(root, "imports", IMPORTS)
        dovecot = DovecotServer(
            tls, {f"watch{n}@example.test": f"pw-{n}" for n in range(max(counts))}
        )
        dovecot.start()
        try:
            for count in counts:
                say(f"poller watching {count} mailbox(es)")
                pollers[count] = measure_poller(root, tls, dovecot, count)
                say(f"  {pollers[count]['rss_kib'] / 1024:.1f} MiB RSS")
        finally:
            dovecot.stop()
        redis = start_redis(root / "redis")
        smtp = RecordingSMTPServer(tls, users={})
        smtp.start()
        try:
            say("worker: idle, then 20 sends")
            worker = measure_worker(root, tls, redis.url, smtp, 20)
        finally:
            smtp.stop()
            redis.stop()
    results = report(info, bare, imported, pollers, worker)
    path = write_results("footprint", results)
    print(f"\nsaved {path}")
    return 0


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def report(
    info: dict[str, Any],
    bare: dict[str, Any],
    imported: dict[str, Any],
    pollers: dict[int, dict[str, Any]],
    worker: dict[str, Any],
) -> dict[str, Any]:
    print(machine_line(info))
    rows: list[list[Any]] = [
        ["baseline: bare python", 1, 1, _mib(bare["rss_kib"]), _mib(bare["pss_kib"]), "-", "-"],
        ["baseline: python + outreach modules", 1, 1, _mib(imported["rss_kib"]),
         _mib(imported["pss_kib"]), "-", "-"],
    ]  # fmt: skip
    for count, found in pollers.items():
        rows.append(
            [
                f"poller, {count} mailbox(es)",
                found["processes"],
                found["threads"],
                _mib(found["rss_kib"]),
                _mib(found["pss_kib"]),
                _mib(found["rss_max_kib"]),
                _mib(found["hwm_kib"]),
            ]
        )
    for label, found in (
        ("worker, idle", worker["idle"]),
        ("worker, after 20 sends", worker["after_sends"]),
    ):
        rows.append(
            [
                label,
                found["processes"],
                found["threads"],
                _mib(found["rss_kib"]),
                _mib(found["pss_kib"]),
                _mib(found["rss_max_kib"]),
                _mib(found["hwm_kib"]),
            ]
        )
    rows.append(
        [
            "worker, peak during sends (horse too)",
            "-",
            "-",
            _mib(worker["peak_rss_kib"]),
            _mib(worker["peak_pss_kib"]),
            "-",
            "-",
        ]
    )
    print_table(
        "Footprint (MiB; RSS and PSS summed over the process tree)",
        ["process", "procs", "threads", "RSS", "PSS", "RSS max seen", "peak (VmHWM)"],
        rows,
    )
    targets: dict[str, Any] = {}
    if 100 in pollers:
        targets["poller_100_rss_mib"] = _mib(pollers[100]["rss_kib"])
        targets["poller_100_peak_mib"] = _mib(pollers[100]["hwm_kib"])
        targets["target_mib"] = 150
    if 1 in pollers and len(pollers) > 1:
        top = max(pollers)
        per = (pollers[top]["rss_kib"] - pollers[1]["rss_kib"]) / max(top - 1, 1)
        targets["per_mailbox_kib"] = round(per)
    if targets:
        print("\ntargets: " + ", ".join(f"{k}={v}" for k, v in targets.items()))
    return {
        "machine": info,
        "baselines": {"bare_python": bare, "modules_imported": imported},
        "poller": {str(count): found for count, found in pollers.items()},
        "worker": worker,
        "targets": targets,
    }


if __name__ == "__main__":
    sys.exit(main())
