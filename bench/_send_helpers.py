"""Shared plumbing for bench/send_path.py, bench/dashboard.py and bench/footprint.py.

Not a benchmark itself (running it does nothing). It starts the test servers from
tests/servers, runs `python -m outreach.cli ...` processes the way a user would,
seeds data through the core use cases, and prints and saves result tables.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    # So `tests.servers.*` and the repo's packages import when run as `python bench/x.py`.
    sys.path.insert(0, str(REPO))

from cryptography.fernet import Fernet  # noqa: E402

from tests.servers.net import descendants, kill_tree, log_tail  # noqa: E402
from tests.servers.tls import TlsFiles, make_tls_files  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"


# --- machine and results --------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the figures were taken on: cores, CPU model, memory, Python, kernel."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_model": model or platform.processor(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['ram_gib']} GiB RAM, "
        f"Python {info['python']}, Linux {info['kernel']}"
    )


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Save one run as bench/results/<name>-<timestamp>.json; returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    body = {"benchmark": name, "taken_at": datetime.now(UTC).isoformat(), **payload}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants that are alive now."""
    return [pid, *descendants(pid)]


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 if it is gone or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size in KiB: shared pages split between the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def hwm_kib(pid: int) -> int:
    """VmHWM: the peak resident set of one process so far, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def established_to(pid: int, port: int) -> int:
    """How many ESTABLISHED TCP connections process `pid` holds to 127.0.0.1:`port`."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    wanted = f"0100007F:{port:04X}"
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and inode in inodes and remote.endswith(wanted):
                count += 1
    return count


def command_line(pid: int, limit: int = 120) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:limit]


def tree_rss_kib(pid: int) -> dict[int, int]:
    """VmRSS per process of pid's tree."""
    return {member: rss_kib(member) for member in process_tree(pid)}


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def tree_cpu_ticks(pid: int) -> int:
    return sum(cpu_ticks(member) for member in process_tree(pid))


def threads_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Instance:
    """One Outreach instance: its env (OUTREACH_*), folder, logs and the processes we started."""

    directory: Path
    env: dict[str, str]
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["OUTREACH_DATABASE_URL"]

    @property
    def encryption_keys(self) -> tuple[str, ...]:
        return tuple(self.env["OUTREACH_ENCRYPTION_KEYS"].split(","))

    @property
    def logs(self) -> Path:
        path = self.directory / "logs"
        path.mkdir(exist_ok=True)
        return path

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run `python -m outreach.cli ARGS` to completion; returns its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "outreach.cli", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"outreach {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout.decode()}{done.stderr.decode()}"
            )
        return done.stdout.decode()

    def start(self, name: str, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start `python -m outreach.cli ARGS` in its own session, logging to logs/<name>.log."""
        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "outreach.cli", *args],
                env={**self.env, **extra_env},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        return log_tail(self.logs / f"{name}.log", lines)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM the process we started (its own group), then SIGKILL whatever is left."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # RQ work horses live in process groups of their own: take the whole tree.
        kill_tree(proc)

    def stop_all(self) -> None:
        for _name, proc in reversed(self.started):
            self.stop(proc)
        self.started.clear()


def new_instance(
    root: Path,
    name: str,
    tls: TlsFiles,
    redis_url: str | None = None,
    database_url: str | None = None,
    **extra: str,
) -> Instance:
    """A fresh instance folder with its own SQLite file (unless database_url) and keys."""
    directory = root / name
    directory.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OUTREACH_INSTANCE_DIR": str(directory),
        "OUTREACH_DATABASE_URL": database_url or f"sqlite:///{directory / 'outreach.sqlite'}",
        "OUTREACH_SECRET_KEY": f"bench-{name}",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OUTREACH_CA_FILE": str(tls.ca_pem),
        **extra,
    }
    if redis_url:
        env["OUTREACH_REDIS_URL"] = redis_url
    # Keep the repo importable for `-m outreach.cli` whatever the caller's PYTHONPATH.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return Instance(directory, env)


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temp folder, removed afterwards; its TLS files live in ./tls."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def tls_files(root: Path) -> TlsFiles:
    return make_tls_files(root / "tls")


def wait_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- seeding through the core use cases ------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A user with one connected mailbox; the password serves SMTP and IMAP alike."""

    user_id: int
    mailbox_id: int
    email: str
    password: str


def seed_account(
    session: Any,
    box: Any,
    email: str,
    password: str,
    *,
    smtp_port: int,
    imap_port: int,
    imap_tls: str = "starttls",
    pace_off: bool = True,
) -> Account:
    """create_user + connect_mailbox (both servers on 127.0.0.1), optionally with pacing off."""
    from outreach.accounts import MailboxSettings, connect_mailbox, create_user
    from outreach.models import TlsMode

    user = create_user(session, email, f"Sam Student {email.split('@')[0]}", "bench passphrase")
    user.introduction = "I am finishing a degree in biology and exploring science policy."
    mailbox = connect_mailbox(
        session,
        user,
        box,
        MailboxSettings(
            email_address=email,
            display_name=user.name,
            imap_host="127.0.0.1",
            imap_port=imap_port,
            imap_tls=TlsMode(imap_tls),
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_tls=TlsMode.STARTTLS,
            username=email,
        ),
        password,
    )
    if pace_off:
        # Beyond what the dashboard lets a user set (cap <= 500): the benchmark wants no pacing.
        mailbox.daily_cap = 1_000_000
        mailbox.min_gap_seconds = mailbox.max_gap_seconds = 0
        mailbox.window_days = "0123456"
        mailbox.window_start_hour, mailbox.window_end_hour = 0, 24
    session.flush()
    return Account(user.id, mailbox.id, user.email, password)


def seed_contacts(session: Any, user: Any, count: int, tag: str) -> list[int]:
    """add_contact `count` times; returns the new contacts' ids in order."""
    from outreach.contacts import ContactInput, add_contact

    ids = []
    for n in range(count):
        contact = add_contact(
            session,
            user,
            ContactInput(
                email=f"{tag}-{n}@org{n % 97}.example",
                name=f"Alex {tag.title()} Person{n}",
                organisation=f"Example Institute {n % 97}",
                role="Policy Analyst",
                how_found="the alumni network",
            ),
        )
        ids.append(contact.id)
    return ids


def seed_drafts(
    session: Any, user: Any, name: str, contact_ids: Sequence[int], drafted: int
) -> list[int]:
    """`drafted` request drafts over `contact_ids`, through create_target + fill_pipeline.

    A target lets at most MAX_IN_FLIGHT_LIMIT requests out at once, so the names are
    spread over as many targets as that takes ("name", "name 2", ...), the first
    `drafted` names drafted; the rest wait on the lists as planned names.
    """
    from outreach.targets import MAX_IN_FLIGHT_LIMIT, create_target, fill_pipeline

    ids = list(contact_ids)
    per_target = MAX_IN_FLIGHT_LIMIT
    to_draft = min(drafted, len(ids))
    # Full targets for the names to draft, then one target holding the planned rest.
    chunks = [(ids[i : i + per_target], True) for i in range(0, to_draft, per_target)]
    if to_draft < len(ids):
        chunks.append((ids[to_draft:], False))
    draft_ids: list[int] = []
    for index, (chunk, draft) in enumerate(chunks):
        target = create_target(
            session,
            user,
            name if index == 0 else f"{name} {index + 1}",
            chunk,
            max_in_flight=len(chunk) if draft else 1,
            allow_same_organisation=True,
        )
        if draft:
            draft_ids += [message.id for message in fill_pipeline(session, user, target, utcnow())]
    return draft_ids


def approve_all(session: Any, user: Any, message_ids: Sequence[int]) -> None:
    from outreach.drafts import approve

    now = utcnow()
    for message_id in message_ids:
        approve(session, user, message_id, now)


if __name__ == "__main__":
    print("bench/_send_helpers.py holds helpers; run bench/send_path.py and friends instead.")
