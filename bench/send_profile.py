"""Profile one worker's send path in this process: CPU per message, Redis commands per job.

Issue 17. Seeds N approved messages over M mailboxes (as bench/send_path.py does),
enqueues them, then runs `workers.worker.OutreachWorker` in burst mode in this very
process under cProfile, so the profile holds the jobs and RQ's bookkeeping around
them and nothing else. Redis's own `INFO commandstats` (reset before the burst)
counts the commands the worker sent, by name.

Usage: python bench/send_profile.py [--messages N] [--mailboxes M] [--top K] [--sort tottime]
Asserts nothing; prints CPU ms a message, Redis commands a job, and the profile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._send_helpers import new_instance, say, scratch_dir, tls_files  # noqa: E402
from bench.send_path import approved_ids, seed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument(
        "--no-profile", action="store_true", help="CPU time without cProfile's own overhead"
    )
    parser.add_argument("--save", help="also write the profile to this file (pstats format)")
    args = parser.parse_args(argv)

    from redis import Redis

    from tests.servers.redis import start_redis
    from tests.servers.smtpd import RecordingSMTPServer

    with scratch_dir("outreach-bench-profile-") as root:
        tls = tls_files(root)
        redis = start_redis(root / "redis")
        smtp = RecordingSMTPServer(tls, users={})
        smtp.start()
        try:
            instance = new_instance(
                root, "profile", tls, redis.url, OUTREACH_SWEEP_INTERVAL="86400"
            )
            instance.cli("db", "upgrade")
            accounts = seed(instance, smtp.port, args.messages, args.mailboxes)
            for account in accounts:
                smtp.users[account.email] = account.password
            ids = approved_ids(instance)
            os.environ.update(instance.env)

            from rq import Queue

            import workers.jobs
            from workers.queues import ALL_QUEUES, enqueue_send
            from workers.worker import OutreachWorker, quiet_routine_logging

            connection = Redis.from_url(redis.url)
            for message_id in ids:
                enqueue_send(connection, message_id)
            workers.jobs.warm_up()
            statements = _count_statements(workers.jobs)
            quiet_routine_logging()
            queues = [Queue(name, connection=connection) for name in ALL_QUEUES]
            worker = OutreachWorker(queues, connection=connection)
            connection.config_resetstat()
            trips = _count_round_trips()
            profile = cProfile.Profile()
            cpu, wall = time.process_time(), time.perf_counter()
            if not args.no_profile:
                profile.enable()
            worker.work(burst=True, with_scheduler=False)
            profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stats = connection.info("commandstats")
            workers.jobs.dispose_runtime()
            received = len(smtp.messages)
        finally:
            smtp.stop()
            redis.stop()
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    calls.pop("info", None)
    calls.pop("config|resetstat", None)
    n = len(ids)
    if not args.no_profile:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        if args.save:
            profile.dump_stats(args.save)
    say(f"{n} messages, {received} received by SMTP")
    how = "without the profiler" if args.no_profile else "profiled"
    say(f"wall {wall / n * 1000:.2f} ms/msg ({how}), CPU {cpu / n * 1000:.2f} ms/msg")
    say(f"database statements per message: {len(statements) / n:.1f}; the last message's:")
    last = -round(len(statements) / n)
    for text in statements[last:]:
        print(f"  {text[:150]}")
    say(
        f"Redis commands per job: {sum(calls.values()) / n:.1f}, "
        f"in {len(trips) / n:.1f} round trips"
    )
    for name, count in sorted(calls.items(), key=lambda item: -item[1]):
        print(f"  {name:24} {count / n:6.2f}")
    return 0


def _count_round_trips() -> list[None]:
    """One entry per request this process sends to Redis (a pipeline is one)."""
    from redis.connection import AbstractConnection

    sent: list[None] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(None)
        original(self, command, check_health)  # type: ignore[arg-type]

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    return sent


def _count_statements(jobs: object) -> list[str]:
    """Every SQL statement (and BEGIN/COMMIT) the worker's engine runs from now on."""
    from sqlalchemy import event

    _settings, factory = jobs._runtime()  # type: ignore[attr-defined]
    engine = factory.kw["bind"]
    seen: list[str] = []
    event.listen(engine, "begin", lambda _conn: seen.append("BEGIN"))
    event.listen(engine, "commit", lambda _conn: seen.append("COMMIT"))
    event.listen(engine, "rollback", lambda _conn: seen.append("ROLLBACK"))

    def statement(_conn: object, _cursor: object, text: str, *_rest: object) -> None:
        seen.append(" ".join(text.split()))

    event.listen(engine, "before_cursor_execute", statement)
    return seen


if __name__ == "__main__":
    sys.exit(main())
