"""Reply latency: from LMTP delivery into Dovecot to the contact's status in the database.

Through the real `outreach poller` process (python -m outreach.cli poller), on
a fresh instance made with `outreach db upgrade`, against the project's test
Dovecot on 127.0.0.1. Two cases:

- IDLE: the poller's IMAP IDLE connection wakes it. OUTREACH_POLL_INTERVAL=60
  and OUTREACH_POLL_LEASE=45, so without IDLE a round comes only every 15 s.
  Replies are delivered one at a time (the next once the previous one is seen,
  after a random 10-30 ms pause).
- polling: the same poller against a Dovecot configured without the IDLE
  capability (imap_capability), so its IDLE watcher gives up and only the
  regular rounds find mail; OUTREACH_POLL_INTERVAL=1. Replies arrive at random
  (mean gap 100 ms, independent of the poll rounds), so each lands at a random
  point of the poller's cycle: expect about interval/2 plus one round.

A reply's latency runs from just before the LMTP call to the moment a reader
of the database (polling it every 10 ms) sees the outreach 'replied'.
Baselines: the LMTP delivery call itself (connect, LHLO, MAIL, RCPT, DATA, QUIT:
Dovecot answers once the message is stored), and, with IDLE, a bare IMAPClient
in IDLE on the same INBOX: when the server itself announces the new message.

    .venv/bin/python bench/reply_latency.py [--quick] [--replies N]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchlib as lib  # noqa: E402
from sqlalchemy import select  # noqa: E402

from outreach.models import Mailbox, Outreach  # noqa: E402
from outreach.rules.states import OutreachState  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.net import kill_tree, log_tail  # noqa: E402
from tests.servers.tls import make_tls_files  # noqa: E402

USER = "student@example.test"
PASSWORD = "imap-secret"
POLL_EVERY = 0.010  # how often the benchmark reads the database
POLLING_INTERVAL = 1  # OUTREACH_POLL_INTERVAL for the polling case


@dataclass
class Detector:
    """A thread that reads the outreach states every 10 ms and notes when each turns 'replied'."""

    instance: lib.Instance
    pending: dict[int, float] = field(default_factory=dict)  # outreach id -> registered at
    seen: dict[int, float] = field(default_factory=dict)  # outreach id -> seen replied at
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="detector", daemon=True)
        self.thread.start()

    def watch(self, outreach_id: int) -> None:
        with self.lock:
            self.pending[outreach_id] = time.perf_counter()

    def _run(self) -> None:
        engine = self.instance.factory.kw["bind"]
        while not self.stop.is_set():
            with self.lock:
                ids = list(self.pending)
            if ids:
                with engine.connect() as connection:
                    done = connection.scalars(
                        select(Outreach.id).where(
                            Outreach.id.in_(ids), Outreach.state == OutreachState.REPLIED
                        )
                    ).all()
                stamp = time.perf_counter()
                with self.lock:
                    for outreach_id in done:
                        self.pending.pop(outreach_id, None)
                        self.seen[outreach_id] = stamp
            self.stop.wait(POLL_EVERY)

    def wait_for(self, outreach_ids: list[int], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if all(i in self.seen for i in outreach_ids):
                    return True
            time.sleep(0.002)
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class IdleProbe:
    """A bare IMAPClient in IDLE on the INBOX: when does the server itself announce new mail?

    Notes the moment each EXISTS count arrives. Dovecot announces a change only
    after a 500 ms delay (NOTIFY_DELAY_MSECS in its mailbox-watch.c), so this is
    the floor for any IDLE client.
    """

    def __init__(self, dovecot: DovecotServer) -> None:
        self.client = dovecot.connect(USER, PASSWORD)
        self.client.select_folder("INBOX", readonly=True)
        self.client.idle()
        self.exists: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="idle-probe", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for response in self.client.idle_check(timeout=0.2):
                if len(response) > 1 and response[1] == b"EXISTS":
                    self.exists.setdefault(int(response[0]), time.perf_counter())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        try:
            self.client.idle_done()
            self.client.logout()
        except Exception:  # noqa: BLE001 - only tidying up
            self.client.shutdown()


def start_poller(instance: lib.Instance, log_path: Path, env: dict[str, str]) -> Any:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "poller"],
            env={**instance.env, **env},
            cwd=lib.REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_poller(proc: Any) -> None:
    """SIGTERM (the poller gives its leases back), then make sure the whole tree is gone."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    kill_tree(proc)


def run_case(mode: str, replies: int, tls: Any, work: Path) -> dict[str, Any]:
    idle = mode == "idle"
    env = (
        {"OUTREACH_POLL_INTERVAL": "60", "OUTREACH_POLL_LEASE": "45"}
        if idle
        else {"OUTREACH_POLL_INTERVAL": str(POLLING_INTERVAL), "OUTREACH_POLL_LEASE": "45"}
    )
    rng = random.Random(7)
    with (
        lib.dovecot_server(tls, {USER: PASSWORD}, idle=idle) as dovecot,
        lib.smtp_server(tls, {USER: PASSWORD}) as smtp,
    ):
        instance = lib.make_instance(tls.ca_pem)
        try:
            # One extra request: its reply warms the whole path up and is not counted.
            seeded = lib.seed(
                instance,
                address=USER,
                password=PASSWORD,
                imap_port=dovecot.imap_port,
                smtp_port=smtp.port,
                count=replies + 1,
            )
            lib.test_mailbox(instance, USER)
            log_path = work / f"poller-{mode}.log"
            proc = start_poller(instance, log_path, env)
            detector = Detector(instance)
            try:
                return measure(mode, idle, rng, dovecot, instance, seeded, detector, proc, log_path)
            finally:
                detector.close()
                stop_poller(proc)
        finally:
            instance.close()


def measure(
    mode: str,
    idle: bool,
    rng: random.Random,
    dovecot: DovecotServer,
    instance: lib.Instance,
    seeded: lib.Seeded,
    detector: Detector,
    proc: Any,
    log_path: Path,
) -> dict[str, Any]:
    def held() -> bool:
        with lib.session_scope(instance.factory) as session:
            mailbox = session.get(Mailbox, seeded.mailbox_id)
            return mailbox is not None and mailbox.poll_owner is not None

    deadline = time.monotonic() + 30
    while not held():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"the poller did not take the mailbox:\n{log_tail(log_path)}")
        time.sleep(0.05)
    time.sleep(1.0)  # with IDLE, the watcher connects after the first round
    warm, *requests = seeded.requests
    detector.watch(warm.outreach_id)
    dovecot.deliver(lib.reply_bytes(warm, USER, "warm-up"), USER)
    if not detector.wait_for([warm.outreach_id], 30):
        raise RuntimeError(f"the warm-up reply was not seen:\n{log_tail(log_path)}")
    time.sleep(0.5)

    probe = IdleProbe(dovecot) if idle else None
    in_mailbox = 1  # the warm-up reply
    sent_at: dict[int, float] = {}
    delivered_at: dict[int, float] = {}
    pushed: list[float] = []
    lmtp: list[float] = []
    started = time.perf_counter()
    try:
        for n, request in enumerate(requests):
            raw = lib.reply_bytes(request, USER, f"{mode}-{n}")
            detector.watch(request.outreach_id)
            t0 = time.perf_counter()
            dovecot.deliver(raw, USER)
            t1 = time.perf_counter()
            in_mailbox += 1
            sent_at[request.outreach_id] = t0
            delivered_at[request.outreach_id] = t1
            lmtp.append(t1 - t0)
            if probe is not None:
                detector.wait_for([request.outreach_id], 30)
                if in_mailbox in probe.exists:
                    pushed.append(probe.exists[in_mailbox] - t0)
                time.sleep(rng.uniform(0.01, 0.03))
            else:
                time.sleep(rng.expovariate(1 / 0.1))
        detector.wait_for([r.outreach_id for r in requests], 10 + 5 * POLLING_INTERVAL)
    finally:
        if probe is not None:
            probe.close()
    elapsed = time.perf_counter() - started
    with detector.lock:
        seen = dict(detector.seen)
    latencies = [seen[i] - sent_at[i] for i in sent_at if i in seen]
    after_delivery = [seen[i] - delivered_at[i] for i in delivered_at if i in seen]
    missing = len(sent_at) - len(latencies)
    return {
        "mode": mode,
        "poller_env": "OUTREACH_POLL_INTERVAL=60 OUTREACH_POLL_LEASE=45"
        if idle
        else f"OUTREACH_POLL_INTERVAL={POLLING_INTERVAL} OUTREACH_POLL_LEASE=45, no IDLE",
        "replies": len(sent_at),
        "not_seen": missing,
        "seconds": elapsed,
        "latency_s": lib.summary(latencies),
        "after_delivery_returned_s": lib.summary(after_delivery),
        "baseline_lmtp_s": lib.summary(lmtp),
        "baseline_idle_push_s": lib.summary(pushed) if pushed else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 replies per case, not 200")
    parser.add_argument("--replies", type=int, default=0, help="replies per case")
    args = parser.parse_args()
    replies = args.replies or (40 if args.quick else 200)
    lib.print_machine()
    print(f"reply latency: {replies} replies per case, real poller process", flush=True)
    cases = []
    with tempfile.TemporaryDirectory(prefix="outreach-bench-latency-") as tmp:
        work = Path(tmp)
        tls = make_tls_files(work / "tls")
        for mode in ("idle", "polling"):
            cases.append(run_case(mode, replies, tls, work))
            print(f"  {mode}: done in {cases[-1]['seconds']:.1f} s", flush=True)
    rows = []
    for case in cases:
        label = "IDLE" if case["mode"] == "idle" else f"polling every {POLLING_INTERVAL} s"
        lat, base = case["latency_s"], case["baseline_lmtp_s"]
        rows.append(
            [
                f"{label}: delivery -> 'replied' in DB",
                case["replies"] - case["not_seen"],
                lib.fmt_ms(lat["p50"]),
                lib.fmt_ms(lat["p95"]),
                lib.fmt_ms(lat["max"]),
                f"{lat['p50'] / base['p50']:.1f}x",
            ]
        )
        rows.append(
            [
                f"{label}: baseline, LMTP delivery",
                base["n"],
                lib.fmt_ms(base["p50"]),
                lib.fmt_ms(base["p95"]),
                lib.fmt_ms(base["max"]),
                "1.0x",
            ]
        )
        push = case["baseline_idle_push_s"]
        if push:
            rows.append(
                [
                    f"{label}: baseline, bare IDLE client sees EXISTS",
                    push["n"],
                    lib.fmt_ms(push["p50"]),
                    lib.fmt_ms(push["p95"]),
                    lib.fmt_ms(push["max"]),
                    f"{push['p50'] / base['p50']:.1f}x",
                ]
            )
        if case["not_seen"]:
            rows.append([f"{label}: NOT SEEN within the timeout", case["not_seen"], "", "", "", ""])
    text = lib.print_table(
        "Reply latency (ms)", ["case", "n", "p50", "p95", "max", "p50 vs baseline"], rows
    )
    lib.write_json(
        "reply_latency",
        {
            "quick": args.quick,
            "replies_per_case": replies,
            "cases": cases,
            "targets": {"idle_p95_s": 1.0},
            "table": text,
        },
    )


if __name__ == "__main__":
    main()
