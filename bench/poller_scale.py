"""Pollers and many mailboxes, a 50 ms round trip: reply latency, logins, memory, shares.

The real `outreach poller` process (or --pollers P of them, sharing) watches
N mailboxes (default 1,000; --quick 100) of N users on the project's test
Dovecot, its process limits raised to hold a connection per mailbox
(../shared/notes/test-servers.md). Every IMAP connection goes through
bench/_delay_proxy.py, which holds each chunk 25 ms each way: a 50 ms round
trip, as to a provider in another region. Mailboxes use STARTTLS, as most do.

Measured, once every mailbox has had its first sync:
- reply latency: replies are delivered over LMTP (straight into Dovecot, not
  through the proxy) to random mailboxes, at random (mean gap 100 ms); each
  is timed from just before delivery until a reader of the database (every
  10 ms) sees its outreach 'replied';
- logins per mailbox per hour in steady state: Dovecot's own log of logins
  ("Login: user=<...>") over a quiet window after the replies, extrapolated
  to an hour; and the poller's own count (its "poller stats" log line);
- the poller's resident memory (VmRSS, and its peak VmHWM) at the end (with
  several, the sum of their VmRSS and the largest VmHWM);
- with --pollers P: how many mailboxes each poller holds once they have
  shared them (their leases in the database), and how long after the first
  sync of every mailbox the shares settled (each within a fifth of N / P).

With --pollers P, one kept poller on the same mailboxes is measured as well, in
the same run, as the baseline for sharing. Baseline for all: the poller as it
was (bench/_round_poller.py: a round logs in to every mailbox one after another;
an IDLE wake-up starts a whole round), measured in the same run on fewer
mailboxes (default 100; --quick 20), through the same proxy.

    .venv/bin/python bench/poller_scale.py [--quick] [--mailboxes N] [--baseline-mailboxes N]
        [--pollers P]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchlib as lib  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from reply_latency import Detector  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from outreach import accounts  # noqa: E402
from outreach.models import Mailbox  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.net import kill_tree, log_tail  # noqa: E402
from tests.servers.tls import TlsFiles, make_tls_files  # noqa: E402

DELAY = 0.025  # each way
POLL_INTERVAL = 60  # the default OUTREACH_POLL_INTERVAL
LEASE = 45  # the default OUTREACH_POLL_LEASE
PASSWORD = "imap-secret"

# ../shared/notes/test-servers.md: what Dovecot needs to hold a thousand connections.
_MANY_CONNECTIONS = """
service imap {
  process_limit = 2200
}
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 2200
}
default_client_limit = 2400
default_vsz_limit = 0
# Each IDLE process watches its mailbox with inotify; past 128 instances per user
# (fs.inotify.max_user_instances) Dovecot falls back to checking every 30 s, which
# would measure Dovecot, not the poller. Checking every second keeps IDLE prompt.
mailbox_idle_check_interval = 1 secs
"""


class ManyConnectionsDovecot(DovecotServer):
    """The project's test Dovecot with its process limits raised for a connection per mailbox."""

    def _extra_config(self, directory: Path) -> str:
        return _MANY_CONNECTIONS


def start_proxy(upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_delay_proxy.py")), str(upstream_port),
         str(DELAY)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


def seed_all(
    instance: lib.Instance, dovecot: DovecotServer, port: int, count: int, prefix: str
) -> list[lib.Seeded]:
    """`count` users, each with a mailbox behind the proxy and two requests recorded as sent."""
    seeded = []
    # Sign-in passwords are never checked here: a cheap Argon2 makes a thousand users in
    # minutes, not a quarter of an hour.
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    for n in range(count):
        address = f"{prefix}{n:04d}@example.test"
        dovecot.add_user(address, PASSWORD)
        seeded.append(
            lib.seed(
                instance, address=address, password=PASSWORD, imap_port=port, smtp_port=25,
                count=2,
            )
        )  # fmt: skip
    with lib.session_scope(instance.factory) as session:
        # What `outreach mailbox test` records: the poller need not look for Sent.
        session.execute(update(Mailbox).values(sent_folder="Sent"))
    return seeded


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    fields = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = row.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def dovecot_logins(dovecot: DovecotServer) -> int:
    return dovecot.log_path.read_text(errors="replace").count("Login: user=<")


def run_case(
    name: str, command: list[str], mailboxes: int, replies: int, quiet: float, tls: TlsFiles,
    work: Path, pollers: int = 1,
) -> dict[str, Any]:  # fmt: skip
    print(f"  {name}: {mailboxes} mailboxes, {pollers} poller(s)", flush=True)
    rng = random.Random(17)
    dovecot = ManyConnectionsDovecot(tls)
    dovecot.start()
    proxy, port = start_proxy(dovecot.imap_port)
    instance = lib.make_instance(
        tls.ca_pem, OUTREACH_POLL_INTERVAL=str(POLL_INTERVAL), OUTREACH_POLL_LEASE=str(LEASE)
    )
    running: list[subprocess.Popen[bytes]] = []
    detector = None
    try:
        started = time.perf_counter()
        seeded = seed_all(instance, dovecot, port, mailboxes, f"{name}-")
        print(f"    seeded in {time.perf_counter() - started:.0f} s", flush=True)
        log_paths = [work / f"{name}-{n}.log" for n in range(pollers)]
        for log_path in log_paths:
            with log_path.open("wb") as log:
                running.append(
                    subprocess.Popen(
                        command, env=instance.env, cwd=lib.REPO_ROOT, stdout=log,
                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )  # fmt: skip
        started = time.perf_counter()
        ready_in = wait_all_synced(instance, mailboxes, running, log_paths)
        print(f"    every mailbox synced once after {ready_in:.1f} s", flush=True)
        shared_in, shares = wait_shared(instance, mailboxes, pollers, log_paths)
        if pollers > 1:
            print(f"    shares {shares} settled {shared_in:.1f} s later", flush=True)
        time.sleep(2.0)  # IDLE connections settle
        detector = Detector(instance)
        latencies, missing = deliver_replies(rng, dovecot, seeded, replies, detector)
        print(f"    {replies} replies: {missing} not seen", flush=True)
        if missing:
            print("\n".join(log_tail(log_path, 30) for log_path in log_paths), flush=True)
        logins_before = dovecot_logins(dovecot)
        window_start = time.perf_counter()
        time.sleep(quiet)
        window = time.perf_counter() - window_start
        logins_in_window = dovecot_logins(dovecot) - logins_before
        memory = [memory_mib(poller.pid) for poller in running]
        rss, hwm = sum(m[0] for m in memory), max(m[1] for m in memory)
        total_logins = dovecot_logins(dovecot)
        shares_at_end = held_by_poller(instance)
        for poller in running:
            stop(poller)
        stats = []
        for log_path in log_paths:
            lines = [row for row in log_path.read_text().splitlines() if "poller stats:" in row]
            stats.append(lines[-1].split("poller stats: ")[-1] if lines else None)
        return {
            "case": name,
            "mailboxes": mailboxes,
            "pollers": pollers,
            "shares": shares,
            "shares_at_end": shares_at_end,
            "shared_after_first_sync_s": round(shared_in, 1),
            "rtt_ms": round(2 * DELAY * 1000),
            "first_sync_of_all_s": round(ready_in, 1),
            "replies": replies,
            "replies_not_seen": missing,
            "latency_s": lib.summary(latencies),
            "reply_latency_p95_ms": round(lib.percentile(latencies, 95) * 1000),
            "steady_window_s": round(window, 1),
            "logins_in_window": logins_in_window,
            "logins_per_mailbox_per_hour": round(logins_in_window / mailboxes / (window / 3600), 2),
            "logins_total_per_mailbox": round(total_logins / mailboxes, 2),
            "rss_mib": round(rss, 1),
            "peak_rss_mib": round(hwm, 1),
            "poller_stats": stats if pollers > 1 else stats[0],
        }
    finally:
        if detector is not None:
            detector.close()
        for poller in running:
            stop(poller)
        kill_tree(proxy)
        instance.close()
        dovecot.stop()


def held_by_poller(instance: lib.Instance) -> list[int]:
    """How many mailboxes each poller holds (their leases), most first; unheld ones last as 0s."""
    with lib.session_scope(instance.factory) as session:
        rows = session.execute(
            select(Mailbox.poll_owner, func.count()).group_by(Mailbox.poll_owner)
        ).all()
    held = sorted((count for owner, count in rows if owner is not None), reverse=True)
    return held + [0] * sum(count for owner, count in rows if owner is None)


def wait_shared(
    instance: lib.Instance, mailboxes: int, pollers: int, log_paths: list[Path]
) -> tuple[float, list[int]]:
    """Seconds until every poller holds within a fifth of its fair share, and the shares."""
    started = time.perf_counter()
    deadline = time.monotonic() + 180
    fair = mailboxes / pollers
    while True:
        shares = held_by_poller(instance)
        if len(shares) == pollers and all(abs(share - fair) <= fair / 5 for share in shares):
            return time.perf_counter() - started, shares
        if time.monotonic() > deadline:
            tails = "\n".join(log_tail(path, 20) for path in log_paths)
            raise RuntimeError(f"not shared: {shares}\n{tails}")
        time.sleep(0.25)


def wait_all_synced(
    instance: lib.Instance,
    mailboxes: int,
    running: list[subprocess.Popen[bytes]],
    log_paths: list[Path],
) -> float:
    started = time.perf_counter()
    deadline = time.monotonic() + 60 + mailboxes * 2.0
    while True:
        with lib.session_scope(instance.factory) as session:
            done = session.scalar(
                select(func.count()).select_from(Mailbox).where(Mailbox.last_synced_at.is_not(None))
            )
        if done == mailboxes:
            return time.perf_counter() - started
        if time.monotonic() > deadline or any(poller.poll() is not None for poller in running):
            tails = "\n".join(log_tail(path, 40) for path in log_paths)
            raise RuntimeError(f"only {done} mailboxes synced:\n{tails}")
        time.sleep(0.25)


def deliver_replies(
    rng: random.Random,
    dovecot: DovecotServer,
    seeded: list[lib.Seeded],
    replies: int,
    detector: Detector,
) -> tuple[list[float], int]:
    """Replies to random mailboxes at random (mean gap 100 ms); each outreach answered once."""
    open_requests = [(s, r) for s in seeded for r in s.requests]
    rng.shuffle(open_requests)
    sent_at: dict[int, float] = {}
    for n, (owner, request) in enumerate(open_requests[:replies]):
        raw = lib.reply_bytes(request, owner.address, f"scale-{n}")
        detector.watch(request.outreach_id)
        sent_at[request.outreach_id] = time.perf_counter()
        dovecot.deliver(raw, owner.address)
        time.sleep(rng.expovariate(1 / 0.1))
    detector.wait_for(list(sent_at), 120)
    with detector.lock:
        seen = dict(detector.seen)
    latencies = [seen[i] - sent_at[i] for i in sent_at if i in seen]
    return latencies, len(sent_at) - len(latencies)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    kill_tree(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 mailboxes (baseline 20)")
    parser.add_argument("--mailboxes", type=int, default=0)
    parser.add_argument("--baseline-mailboxes", type=int, default=0)
    parser.add_argument("--replies", type=int, default=0, help="default 200 (--quick 50)")
    parser.add_argument("--quiet", type=float, default=0, help="steady-state window, seconds")
    parser.add_argument(
        "--pollers", type=int, default=1, help="pollers sharing the mailboxes (default 1)"
    )
    args = parser.parse_args()
    mailboxes = args.mailboxes or (100 if args.quick else 1000)
    baseline_mailboxes = args.baseline_mailboxes or (20 if args.quick else 100)
    replies = args.replies or (50 if args.quick else 200)
    quiet = args.quiet or (75.0 if args.quick else 150.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lib.print_machine()
    print(
        f"poller scale: {mailboxes} mailboxes, {args.pollers} poller(s), "
        f"{2 * DELAY * 1000:.0f} ms round trip, OUTREACH_POLL_INTERVAL={POLL_INTERVAL}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="outreach-bench-scale-") as tmp:
        work = Path(tmp)
        tls = make_tls_files(work / "tls")
        kept = run_case(
            "kept", [sys.executable, "-m", "outreach.cli", "poller"], mailboxes, replies, quiet,
            tls, work, args.pollers,
        )  # fmt: skip
        # With several pollers, one kept poller on the same mailboxes, in the same run, is the
        # baseline for what sharing costs or gains.
        alone = (
            run_case(
                "alone",
                [sys.executable, "-m", "outreach.cli", "poller"],
                mailboxes,
                replies,
                quiet,
                tls,
                work,
            )  # fmt: skip
            if args.pollers > 1
            else None
        )
        baseline = run_case(
            "rounds",
            [sys.executable, str(Path(__file__).with_name("_round_poller.py"))],
            baseline_mailboxes,
            min(replies, 2 * baseline_mailboxes, 40),
            quiet,
            tls,
            work,
        )
    rows = []
    cases = [kept, baseline] if alone is None else [kept, alone, baseline]
    labels = [f"kept connections (now), {args.pollers} poller(s)"]
    if alone is not None:
        labels.append("kept connections (now), 1 poller")
    labels.append("a login every round (before), 1 poller")
    for case, label in zip(cases, labels, strict=True):
        lat = case["latency_s"]
        rows.append(
            [
                label,
                case["mailboxes"],
                "/".join(str(share) for share in case["shares"]),
                f"{lat['p50'] * 1000:.0f}",
                f"{case['reply_latency_p95_ms']}",
                f"{case['replies_not_seen']}",
                f"{case['logins_per_mailbox_per_hour']:.2f}",
                f"{case['rss_mib']:.0f}",
            ]
        )
    text = lib.print_table(
        f"Poller at scale ({2 * DELAY * 1000:.0f} ms round trip)",
        [
            "poller",
            "mailboxes",
            "held each",
            "p50 ms",
            "p95 ms",
            "missed",
            "logins/mbx/h",
            "RSS MiB",
        ],  # fmt: skip
        rows,
    )
    lib.write_json(
        "poller_scale",
        {
            "quick": args.quick,
            "mailboxes": kept["mailboxes"],
            "pollers": kept["pollers"],
            "shares": kept["shares"],
            "rtt_ms": kept["rtt_ms"],
            "reply_latency_p95_ms": kept["reply_latency_p95_ms"],
            "logins_per_mailbox_per_hour": kept["logins_per_mailbox_per_hour"],
            "rss_mib": kept["rss_mib"],
            "poll_interval_s": POLL_INTERVAL,
            "cases": cases,
            "targets": {
                "reply_latency_p95_ms": 2000,
                "logins_per_mailbox_per_hour": 1,
                "rss_mib": 400,
            },
            "table": text,
        },
    )


if __name__ == "__main__":
    main()
