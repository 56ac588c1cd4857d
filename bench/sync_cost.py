"""Sync cost: one mailbox of 50,000 messages, 200 of them replies to our requests.

The mailbox lives in the project's test Dovecot (127.0.0.1). Its messages are
written straight into the Maildir (far faster than 50,000 LMTP deliveries),
then Dovecot indexes the folder once before anything is measured:

- INBOX: 50,000 messages that arrived over the last 400 days. The requests went
  out 30 days ago (`--outreach-days`; their sent time is set so in the database),
  and 200 of the messages since then are replies (In-Reply-To one of our
  requests), spread at random; the rest is a mix of newsletters (multipart text
  + HTML), notifications, short personal mail and a few attachments (see `noise`).
- Sent: the exact copies of the requests we sent, filed when they went out.

Measured, each through the product's own polling round (outreach.polling.
poll_mailbox, what the poller runs per mailbox: connect, STARTTLS, log in, sync
INBOX and Sent, commit) on a database made with `outreach db upgrade`, after
`outreach mailbox test` recorded the Sent folder, as a user would run it:

1. first sync (nothing stored yet);
2. incremental sync with nothing new (repeated; median and p95);
   2b. the same before the Sent folder is known (no `outreach mailbox test` yet,
   no sent copy filed): each round looks for it with a LIST;
3. incremental sync with 10 new messages (delivered over LMTP, one of them a
   reply; repeated);
4. the same as 2., on an already open connection (sync_mailbox alone): what a
   round costs without connecting and logging in.

Baseline, in the same run: the naive approach, which keeps no state and fetches
every message of both folders whole (UID SEARCH ALL, then BODY.PEEK[] in slices
of 200, as the product slices its header fetches), so every sync costs the same.
It only fetches: it does not parse or store anything.

Round trips and bytes are counted inside imaplib (which IMAPClient drives): each
connection greeting and each tagged command is one round trip (IMAPClient never
pipelines), bytes are the IMAP protocol bytes the client reads, after TLS.
"IMAP wait" is the time from sending each command to its completion, plus TCP
connect and greeting (of the last run of a row); the rest of the wall time is
the client's own work (TLS handshake, parsing, matching, the database).

    .venv/bin/python bench/sync_cost.py [--quick] [--messages N] [--replies N]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchlib as lib  # noqa: E402

from outreach.db import session_scope  # noqa: E402
from outreach.mail.imap import FETCH_CHUNK, ImapSource  # noqa: E402
from outreach.mail.tls import client_context  # noqa: E402
from outreach.mailbox_login import imap_login  # noqa: E402
from outreach.models import Mailbox, Message  # noqa: E402
from outreach.polling import poll_mailbox  # noqa: E402
from outreach.watching import sync_mailbox  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.tls import make_tls_files  # noqa: E402

USER = "student@example.test"
PASSWORD = "imap-secret"
NEW_ROUNDS = 5  # incremental syncs with 10 new messages
MAILBOX_DAYS = 400  # the INBOX's mail arrived over this many days, up to now

_WORDS = (
    "policy science research funding committee report draft review meeting budget "
    "quarterly update community project team schedule proposal summary results data "
    "analysis program network event seminar workshop deadline application support "
    "the of and to in for on with at by from about this that we you our your new"
).split()


class Corpus:
    """Deterministic filler: text, HTML and base64 slices cut from pre-made buffers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        words = [rng.choice(_WORDS) for _ in range(120_000)]
        lines, line = [], []
        for word in words:
            line.append(word)
            if sum(len(w) + 1 for w in line) > 70:
                lines.append(" ".join(line))
                line = []
        self.text = "\n".join(lines)
        blob = base64.encodebytes(rng.randbytes(450_000)).decode()
        self.b64 = blob

    def plain(self, size: int) -> str:
        start = self.rng.randrange(0, len(self.text) - size - 1)
        return self.text[start : start + size]

    def html(self, size: int) -> str:
        out: list[str] = ["<html><head><style>td{font-family:Arial;color:#333}</style></head>"]
        total = 0
        while total < size:
            chunk = self.plain(self.rng.randint(200, 600)).replace("\n", " ")
            piece = (
                '<tr><td style="padding:12px 24px;font-size:15px;line-height:22px">'
                f"<p>{chunk}</p></td></tr>\n"
            )
            out.append(piece)
            total += len(piece)
        out.append("</table></body></html>")
        return "".join(out)

    def attachment(self, size: int) -> str:
        start = self.rng.randrange(0, len(self.b64) - size - 1)
        # Start on a line boundary so the slice is valid base64 lines.
        start = self.b64.index("\n", start) + 1
        return self.b64[start : start + size]


def _date(stamp: datetime) -> str:
    return stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _received(rng: random.Random, stamp: datetime) -> str:
    hops = []
    for hop in range(rng.randint(2, 5)):
        host = f"mx{rng.randint(1, 40)}.relay{hop}.example.net"
        hops.append(
            f"Received: from {host} ({host} [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}])\n\tby mail.example.test with ESMTPS id "
            f"{rng.getrandbits(64):016x}\n\tfor <{USER}>; {_date(stamp)}\n"
        )
    return "".join(hops)


def _dkim(rng: random.Random, domain: str) -> str:
    sig = base64.b64encode(rng.randbytes(256)).decode()
    return (
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\n"
        "\th=from:to:subject:date:message-id:mime-version:content-type;\n"
        f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
        f"\tb={sig[:70]}\n\t {sig[70:140]}\n\t {sig[140:210]}\n\t {sig[210:]}\n"
    )


def noise(corpus: Corpus, n: int, stamp: datetime) -> str:
    """One message of the user's ordinary mail, which no outreach cares about.

    Mix (sizes are of the part before encoding): 50% newsletters, multipart/
    alternative with 1-4 kB text and 4-30 kB HTML; 20% notifications, 0.5-1.5 kB
    text and 2-8 kB HTML; 27% personal plain text, 0.2-3 kB; 3% with a 20-150 kB
    base64 attachment. Each with 2-5 Received lines; most with a DKIM signature.
    """
    rng = corpus.rng
    roll = rng.random()
    domain = f"sender{rng.randint(1, 900)}.example.com"
    head = (
        f"Return-Path: <bounce-{n}@{domain}>\nDelivered-To: {USER}\n"
        + _received(rng, stamp)
        + (_dkim(rng, domain) if roll < 0.7 or rng.random() < 0.5 else "")
        + f"Date: {_date(stamp)}\nTo: Sam Student <{USER}>\n"
        f"Message-ID: <{n}.{rng.getrandbits(48):012x}@{domain}>\nMIME-Version: 1.0\n"
    )
    if roll < 0.70:
        bulk = roll < 0.50
        text = corpus.plain(rng.randint(1000, 4000) if bulk else rng.randint(500, 1500))
        html = corpus.html(rng.randint(4000, 30000) if bulk else rng.randint(2000, 8000))
        boundary = f"=_b{n}"
        kind = "Weekly digest" if bulk else "Your account activity"
        return (
            head + f"From: Example News <news@{domain}>\nSubject: {kind} #{n}\n"
            f"List-Unsubscribe: <https://{domain}/u/{n}>\nPrecedence: bulk\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n{html}\n"
            f"--{boundary}--\n"
        )
    person = f"{rng.choice(['kim', 'lee', 'ana', 'joe', 'eva'])}{rng.randint(1, 500)}"
    text = corpus.plain(rng.randint(200, 3000))
    if roll < 0.97:
        return (
            head + f"From: {person.title()} <{person}@{domain}>\nSubject: about {text[:30]}\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{text}\n"
        )
    boundary = f"=_m{n}"
    blob = corpus.attachment(rng.randint(20_000, 150_000))
    return (
        head + f"From: {person.title()} <{person}@{domain}>\nSubject: files {n}\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
        f"--{boundary}\nContent-Type: application/pdf; name=doc{n}.pdf\n"
        f"Content-Disposition: attachment; filename=doc{n}.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{blob}\n--{boundary}--\n"
    )


def fill_maildir(
    dovecot: DovecotServer,
    seeded: lib.Seeded,
    total: int,
    replies: int,
    rng: random.Random,
    sent_at: datetime,
) -> dict[str, Any]:
    """Write the INBOX and Sent messages as Maildir files, owned as Dovecot wants them.

    The messages arrive evenly over MAILBOX_DAYS up to now; the replies are among
    those that arrived after `sent_at`, when the requests went out.
    """
    assert dovecot.directory is not None
    # Log in once: Dovecot creates the Maildir and the Sent folder (auto = subscribe).
    client = dovecot.connect(USER, PASSWORD)
    client.select_folder("Sent", readonly=True)
    client.logout()
    maildir = dovecot.directory / "mail" / USER / "Maildir"
    corpus = Corpus(rng)
    end = datetime.now(UTC)
    start = end - timedelta(days=MAILBOX_DAYS)
    step = (end - start) / total
    after_requests = [n for n in range(total) if start + n * step > sent_at]
    reply_at = set(rng.sample(after_requests, replies))
    requests = iter(seeded.requests[:replies])
    host = socket.gethostname()
    owner = (
        (shutil.chown, ("dovecot", "dovecot"))
        if os.geteuid() == 0
        else (None, ())  # rootless Dovecot runs as us
    )
    sizes: list[int] = []

    def write(folder: Path, n: int, text: str, stamp: datetime) -> None:
        data = text.replace("\r\n", "\n").encode()
        vsize = len(data) + data.count(b"\n")
        when = int(stamp.timestamp())
        # <time>.<unique>.<host>,S=<size>,W=<size with CRLF>:2,<flags> (Dovecot's names):
        # Dovecot then needs no stat() for the sizes. Names sort in delivery order.
        path = folder / f"{when}.M{n:06d}P{os.getpid()}.{host},S={len(data)},W={vsize}:2,S"
        path.write_bytes(data)
        os.utime(path, (when, when))
        if owner[0] is not None:
            owner[0](path, *owner[1])
        sizes.append(len(data))

    inbox = maildir / "cur"
    for n in range(total):
        stamp = start + n * step
        if n in reply_at:
            request = next(requests)
            text = lib.reply_bytes(request, USER, f"bulk-{n}").decode()
        else:
            text = noise(corpus, n, stamp)
        write(inbox, n, text, stamp)
    inbox_bytes = sum(sizes)
    sent = maildir / ".Sent" / "cur"
    for n, request in enumerate(seeded.requests):
        write(sent, total + n, request.raw.decode(), sent_at + timedelta(seconds=n))
    return {
        "inbox_messages": total,
        "inbox_days": MAILBOX_DAYS,
        "inbox_since_requests": len(after_requests),
        "inbox_replies": replies,
        "inbox_bytes_on_disk": inbox_bytes,
        "inbox_mean_message_bytes": inbox_bytes / total,
        "sent_messages": len(seeded.requests),
    }


def naive_sync(login: Any, context: Any, folders: list[str]) -> int:
    """Fetch every message of every folder whole; return how many were fetched."""
    fetched = 0
    with ImapSource(login, context) as source:
        client = source.client
        for folder in folders:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            for begin in range(0, len(uids), FETCH_CHUNK):
                response = client.fetch(uids[begin : begin + FETCH_CHUNK], [b"BODY.PEEK[]"])
                fetched += sum(1 for data in response.values() if b"BODY[]" in data)
    return fetched


def measured(run: Callable[[], Any]) -> tuple[Any, float, lib.ImapTraffic]:
    with lib.count_imap() as traffic:
        started = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - started
    return result, seconds, traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 messages, 20 replies")
    parser.add_argument("--messages", type=int, default=0, help="messages in the INBOX")
    parser.add_argument("--replies", type=int, default=0, help="replies among them")
    parser.add_argument(
        "--outreach-days",
        type=int,
        default=30,
        help=f"days since the requests went out (up to {MAILBOX_DAYS}: all the mail is newer)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the first sync (slower)")
    args = parser.parse_args()
    total = args.messages or (5_000 if args.quick else 50_000)
    replies = args.replies or (20 if args.quick else 200)
    repeats = 5 if args.quick else 20
    lib.print_machine()
    print(f"sync cost: {total:,} messages, {replies} replies to our requests", flush=True)
    rng = random.Random(20261124)
    with tempfile.TemporaryDirectory(prefix="outreach-bench-sync-") as tmp:
        tls = make_tls_files(Path(tmp) / "tls")
        context = client_context(tls.ca_pem)
        with (
            lib.dovecot_server(tls, {USER: PASSWORD}) as dovecot,
            lib.smtp_server(tls, {USER: PASSWORD}) as smtp,
        ):
            instance = lib.make_instance(tls.ca_pem)
            try:
                results = run(
                    args, dovecot, smtp.port, instance, context, total, replies, repeats, rng
                )
            finally:
                instance.close()
    report(args, results)


def run(
    args: argparse.Namespace,
    dovecot: DovecotServer,
    smtp_port: int,
    instance: lib.Instance,
    context: Any,
    total: int,
    replies: int,
    repeats: int,
    rng: random.Random,
) -> dict[str, Any]:
    seeded = lib.seed(
        instance,
        address=USER,
        password=PASSWORD,
        imap_port=dovecot.imap_port,
        smtp_port=smtp_port,
        count=replies + NEW_ROUNDS,
    )
    # As a user would after adding the mailbox: this also records the Sent folder.
    lib.test_mailbox(instance, USER)
    # The requests went out `--outreach-days` ago; their replies came after them.
    sent_at = datetime.now(UTC) - timedelta(days=min(args.outreach_days, MAILBOX_DAYS))
    with session_scope(instance.factory) as session:
        session.execute(
            update(Message)
            .where(Message.user_id == seeded.user_id, Message.sent_at.is_not(None))
            .values(sent_at=sent_at)
        )
    with lib.Stopwatch() as filling:
        mailbox_info = fill_maildir(dovecot, seeded, total, replies, rng, sent_at)
    print(
        f"  mailbox written in {filling.seconds:.1f} s: "
        f"{lib.fmt_bytes(mailbox_info['inbox_bytes_on_disk'])} in INBOX, mean "
        f"{lib.fmt_bytes(mailbox_info['inbox_mean_message_bytes'])} a message",
        flush=True,
    )
    with lib.Stopwatch() as indexing:
        client = dovecot.connect(USER, PASSWORD)
        for folder in ("INBOX", "Sent"):
            client.select_folder(folder, readonly=True)
        client.logout()
    print(f"  Dovecot indexed the folders in {indexing.seconds:.1f} s (not counted)", flush=True)
    with session_scope(instance.factory) as session:
        mailbox = session.get(Mailbox, seeded.mailbox_id)
        assert mailbox is not None
        login = imap_login(mailbox, instance.box)

    def poll() -> Any:
        result = poll_mailbox(
            instance.factory, seeded.mailbox_id, instance.box, context, lambda: datetime.now(UTC)
        )
        if not result.ok:
            raise RuntimeError(f"poll failed: {result.problem}")
        return result.report

    rows: dict[str, Any] = {}

    def keep(name: str, seconds: list[float], traffic: lib.ImapTraffic, **extra: Any) -> None:
        rows[name] = {
            "wall_s": lib.summary(seconds),
            **traffic.as_dict(),
            **extra,
        }
        if len(traffic.names) > 40:
            rows[name]["command_names"] = sorted(set(traffic.names))

    # 1. First sync.
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    report, seconds, traffic = measured(poll)
    if profiler is not None:
        profiler.disable()
        lib.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = lib.RESULTS_DIR / "sync_cost-first-sync-profile.txt"
        with path.open("w") as out:
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
        print(f"  profile of the first sync written to {path.relative_to(lib.REPO_ROOT)}")
    keep(
        "first sync",
        [seconds],
        traffic,
        examined=sum(report.folders.values()),
        matched=report.matched,
    )
    print(f"  first sync: {seconds:.1f} s, {report.matched} matched", flush=True)

    # Baseline: naive, whole messages, same run.
    fetched, seconds, traffic = measured(lambda: naive_sync(login, context, ["INBOX", "Sent"]))
    keep("naive baseline: fetch every message whole", [seconds], traffic, examined=fetched)
    print(f"  naive: {seconds:.1f} s, {fetched} messages", flush=True)

    # 2. Incremental, nothing new.
    times, last = [], None
    for _ in range(repeats):
        report, seconds, traffic = measured(poll)
        times.append(seconds)
        last = traffic
    assert last is not None
    keep("incremental, nothing new", times, last, examined=sum(report.folders.values()))

    # 2b. Nothing new, before the Sent folder is known (no `outreach mailbox test` run yet,
    # no sent copy filed): the round looks for it with a LIST every time.
    def forget_sent_folder(folder: str | None) -> str | None:
        with session_scope(instance.factory) as session:
            mailbox = session.get(Mailbox, seeded.mailbox_id)
            assert mailbox is not None
            previous, mailbox.sent_folder = mailbox.sent_folder, folder
        return previous

    known = forget_sent_folder(None)
    times = []
    for _ in range(repeats):
        report, seconds, traffic = measured(poll)
        times.append(seconds)
    forget_sent_folder(known)
    keep("incremental, nothing new, Sent folder not known", times, traffic)

    # 4. Nothing new, on an open connection (no connect, STARTTLS, login, logout).
    times = []
    with ImapSource(login, context) as source:
        folders = source.watched_folders(known)
        for _ in range(repeats):
            with lib.count_imap() as traffic:
                started = time.perf_counter()
                with session_scope(instance.factory) as session:
                    mailbox = session.get(Mailbox, seeded.mailbox_id)
                    assert mailbox is not None
                    sync_mailbox(session, mailbox, source, datetime.now(UTC), folders)
                times.append(time.perf_counter() - started)
    keep("incremental, nothing new, open connection", times, traffic)

    # 3. Incremental, 10 new (one a reply).
    times = []
    fresh = seeded.requests[replies:]
    matched = []
    for round_ in range(NEW_ROUNDS):
        corpus = Corpus(random.Random(round_))
        for k in range(9):
            raw = noise(corpus, 10_000_000 + round_ * 10 + k, datetime.now(UTC))
            dovecot.deliver(raw.replace("\n", "\r\n").encode(), USER)
        dovecot.deliver(lib.reply_bytes(fresh[round_], USER, f"new-{round_}"), USER)
        report, seconds, traffic = measured(poll)
        times.append(seconds)
        matched.append(report.matched)
    keep(
        "incremental, 10 new (1 reply)",
        times,
        traffic,
        examined=sum(report.folders.values()),
        matched=matched,
    )
    return {"mailbox": mailbox_info, "indexing_s": indexing.seconds, "rows": rows}


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    rows = results["rows"]
    naive = rows["naive baseline: fetch every message whole"]
    order = [
        "first sync",
        "incremental, nothing new",
        "incremental, nothing new, Sent folder not known",
        "incremental, nothing new, open connection",
        "incremental, 10 new (1 reply)",
        "naive baseline: fetch every message whole",
    ]
    table = []
    for name in order:
        row = rows[name]
        wall = row["wall_s"]
        table.append(
            [
                name,
                wall["n"],
                lib.fmt_ms(wall["p50"]),
                lib.fmt_ms(wall["p95"]),
                lib.fmt_ms(row["imap_wait_s"]),
                row["round_trips"],
                lib.fmt_bytes(row["bytes_read"]),
                lib.ratio(row["bytes_read"], naive["bytes_read"]),
                lib.ratio(wall["p50"], naive["wall_s"]["p50"]),
            ]
        )
    box = results["mailbox"]
    text = lib.print_table(
        f"Sync cost: {box['inbox_messages']:,} messages in INBOX over {box['inbox_days']} days, "
        f"{box['inbox_since_requests']:,} since the requests went out "
        f"({box['inbox_replies']} replies, mean {lib.fmt_bytes(box['inbox_mean_message_bytes'])})"
        f" + {box['sent_messages']} in Sent; wall time in ms",
        [
            "sync",
            "runs",
            "p50 ms",
            "p95 ms",
            "IMAP wait ms",
            "round trips",
            "bytes read",
            "bytes vs naive",
            "time vs naive",
        ],
        table,
    )
    lib.write_json(
        "sync_cost",
        {
            "quick": args.quick,
            **results,
            "targets": {
                "incremental_nothing_new_ms": 50,
                "incremental_nothing_new_round_trips": "a handful",
                "first_sync_bytes_fraction_of_naive": 1 / 20,
            },
            "table": text,
        },
    )


if __name__ == "__main__":
    main()
