"""`outreach up` as a real process: it starts everything, and Ctrl-C stops everything.

"Nothing left running" is checked in /proc: after `up` exits, no process (not even
a zombie) remains in its own process group, where the bundled Valkey runs, or in
any child's group, where the dashboard, the worker (with its scheduler) and the
poller run with their helpers.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from logging import ERROR, INFO, WARNING
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from tests.servers.net import free_port, free_ports, stop_process
from workers.processes import REDIS_URL_FILE, default_children, group_members
from workers.queues import RUN_CYCLE_ID, RUN_CYCLE_JOB, SWEEP_OUTBOX_ID, SWEEP_OUTBOX_JOB
from workers.worker import QuietRoutine

REPO = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"started (\w+) \(pid (\d+)\)")


def _base_env(instance: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTREACH_")}
    env.update(
        OUTREACH_INSTANCE_DIR=str(instance),
        OUTREACH_PORT=str(port),
        OUTREACH_SECRET_KEY="up-test-secret",
        OUTREACH_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        OUTREACH_POLL_INTERVAL="1",
        PYTHONUNBUFFERED="1",
    )
    # The sandbox's servers run too: on ports of their own, beside any other test's.
    smtp_port, imap_port = free_ports(2)
    env.update(OUTREACH_SANDBOX_SMTP_PORT=str(smtp_port), OUTREACH_SANDBOX_IMAP_PORT=str(imap_port))
    return env


def _outreach_command() -> list[str]:
    script = Path(sys.executable).parent / "outreach"
    return [str(script)] if script.exists() else [sys.executable, "-m", "outreach.cli"]


class Up:
    """A supervisor process under test, its log, and the process groups it made."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with log.open("wb") as handle:
            # Its own session, like a terminal's foreground job: killpg() is a Ctrl-C.
            self.proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in STARTED.findall(self.log())}

    def groups(self) -> set[int]:
        return {self.proc.pid, *self.children().values()}

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                pytest.fail(f"outreach up exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"'{text}' did not appear within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def cleanup(self) -> None:
        """After a failed test: kill whatever is left, and reap what we can."""
        for pgid in self.groups() - {self.proc.pid}:
            if group_members(pgid):
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        stop_process(self.proc)


StartUp = Callable[[list[str], dict[str, str]], Up]


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    started: list[Up] = []

    def start(command: list[str], env: dict[str, str]) -> Up:
        up = Up(command, env, tmp_path / f"up-{len(started)}.log")
        started.append(up)
        return up

    yield start
    for up in started:
        if up.proc.returncode is None or any(group_members(g) for g in up.groups()):
            up.cleanup()


def _assert_nothing_left(up: Up) -> None:
    left = {pgid: group_members(pgid) for pgid in up.groups()}
    assert not any(left.values()), f"processes left behind: {left}\n{up.log()}"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_up_serves_the_dashboard_and_ctrl_c_stops_every_child(
    tmp_path: Path, start_up: StartUp
) -> None:
    instance = tmp_path / "instance"
    port = free_port()
    up = start_up([*_outreach_command(), "up"], _base_env(instance, port))

    deadline = time.monotonic() + 60
    while _get(f"http://127.0.0.1:{port}/healthz") != 200:
        if up.proc.poll() is not None:
            pytest.fail(f"outreach up exited with {up.proc.returncode}:\n{up.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"/healthz did not answer 200 within 60 s:\n{up.log()}")
        time.sleep(0.2)
    up.wait_for_log(f"Outreach is running at http://127.0.0.1:{port}/", timeout=10)

    assert set(up.children()) == {"web", "worker", "poller", "sandbox"}
    # No OUTREACH_REDIS_URL: the bundled Valkey runs, and says where for other commands.
    assert "started the bundled Valkey at redis://127.0.0.1:" in up.log()
    assert (instance / REDIS_URL_FILE).read_text().startswith("redis://127.0.0.1:")
    assert (instance / "outreach.sqlite").exists()  # migrated before starting
    # Let the worker reach Redis for real before we stop it.
    up.wait_for_log("Listening on", timeout=20)
    # The sandbox's mail servers answer too, so "Try it with the sandbox" needs nothing else.
    up.wait_for_log("Sandbox: no real email is sent", timeout=20)

    up.ctrl_c()
    try:
        code = up.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"outreach up did not stop within 15 s of Ctrl-C:\n{up.log()}")
    assert code == 0, up.log()
    assert "SIGINT received; stopping" in up.log()
    assert "did not stop in time" not in up.log()
    _assert_nothing_left(up)
    assert not (instance / REDIS_URL_FILE).exists()


def _periodic_runs(redis_url: str) -> set[str]:
    """When the two periodic jobs last ended, as RQ keeps it (empty before their first run)."""
    connection = Redis.from_url(redis_url)
    try:
        ended = set()
        for job_id in (RUN_CYCLE_ID, SWEEP_OUTBOX_ID):
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            if job.ended_at is not None:
                ended.add(f"{job_id} {job.ended_at.isoformat()}")
        return ended
    finally:
        connection.close()


# What RQ wrote four times a job at every sweep before it was quietened.
ROUTINE = ("run_cycle", "sweep_outbox", "run-cycle", "sweep-outbox", "Job OK", "result is kept")


def test_up_keeps_the_terminal_quiet_through_the_sweeps(tmp_path: Path, start_up: StartUp) -> None:
    instance = tmp_path / "instance"
    port = free_port()
    env = _base_env(instance, port)
    env["OUTREACH_SWEEP_INTERVAL"] = "1"
    up = start_up([*_outreach_command(), "up"], env)
    up.wait_for_log("press Ctrl-C here to stop everything", timeout=60)
    redis_url = (instance / REDIS_URL_FILE).read_text().strip()

    # Several sweeps, each running both periodic jobs, seen in Redis rather than in the log.
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while len(seen) < 6 and time.monotonic() < deadline:
        seen |= _periodic_runs(redis_url)
        time.sleep(0.3)
    assert len(seen) >= 6, f"the periodic jobs ran {len(seen)} times:\n{up.log()}"

    log = up.log()
    for routine in ROUTINE:
        assert routine not in log, f"{routine!r} is in the terminal:\n{log}"
    # Said once, with where and how to stop.
    assert log.count(f"Outreach is running at http://127.0.0.1:{port}/ (Ctrl-C stops it)") == 1
    assert log.count("This terminal stays quiet unless something happens") == 1

    up.ctrl_c()
    assert up.proc.wait(timeout=15) == 0, up.log()
    _assert_nothing_left(up)


def _record(level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("rq.worker", level, __file__, 1, message, args, None)


def test_the_quiet_filter_drops_only_the_routine_lines_of_the_periodic_jobs() -> None:
    quiet = QuietRoutine((RUN_CYCLE_ID, SWEEP_OUTBOX_ID), (RUN_CYCLE_JOB, SWEEP_OUTBOX_JOB))
    coloured = "\x1b[32mperiodic\x1b[39;49;00m"
    dropped = [
        _record(
            INFO, "Worker %s: %s: %s (%s)", "w1", coloured, "workers.jobs.run_cycle()", "run-cycle"
        ),
        _record(INFO, "Worker %s: %s: %s (%s)", "w1", "periodic", "Job OK", "sweep-outbox"),
        _record(INFO, "Worker %s: job %s result is kept for %s seconds", "w1", "run-cycle", 600),
        _record(
            INFO,
            "Successfully completed %s job in %ss on worker %s",
            "workers.jobs.sweep_outbox()",
            0.1,
            "w1",
        ),
        _record(INFO, "Worker %s: cleaning registries for queue: %s", "w1", "send"),
    ]
    kept = [
        # A message going out is something happening.
        _record(
            INFO, "Worker %s: %s: %s (%s)", "w1", "send", "workers.jobs.send_message(7)", "send-7"
        ),
        _record(INFO, "*** Listening on %s...", "send, periodic"),
        # Trouble with a periodic job is always shown.
        _record(WARNING, "Worker %s: job %s failed", "w1", "run-cycle"),
        _record(ERROR, "Traceback in %s", "workers.jobs.sweep_outbox()"),
    ]
    assert [quiet.filter(record) for record in dropped] == [False] * len(dropped)
    assert [quiet.filter(record) for record in kept] == [True] * len(kept)


def test_outreach_sandbox_off_leaves_the_sandbox_out_of_up() -> None:
    assert [child.name for child in default_children(sandbox=False)] == [
        "web",
        "worker",
        "poller",
    ]
    assert default_children()[-1].argv[-1] == "sandbox"


SUPERVISE = textwrap.dedent(
    """
    import sys
    from outreach.config import Settings
    from workers.processes import ChildSpec, run_up

    python = sys.executable
    children = [ChildSpec(name, (python, "-c", code)) for name, code in CHILDREN]
    sys.exit(run_up(Settings.from_env(), children, stop_timeout=STOP_TIMEOUT))
    """
)


def _supervise(children: list[tuple[str, str]], stop_timeout: float) -> list[str]:
    script = f"CHILDREN = {children!r}\nSTOP_TIMEOUT = {stop_timeout!r}\n{SUPERVISE}"
    return [sys.executable, "-c", script]


def test_a_child_that_dies_once_is_started_again_and_the_rest_keep_running(
    tmp_path: Path, start_up: StartUp
) -> None:
    """A short outage (the database restarting) must not take the whole product down."""
    marker = tmp_path / "died-once"
    once = (
        "import pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch(); raise SystemExit(3)\n"
        "print('wobbly is back', flush=True); time.sleep(120)\n"
    )
    children = [("steady", "import time; time.sleep(120)"), ("wobbly", once)]
    env = _base_env(tmp_path / "instance", free_port())
    env["OUTREACH_REDIS_URL"] = "redis://127.0.0.1:1/0"  # not used by these children
    up = start_up(_supervise(children, 5.0), env)

    up.wait_for_log("wobbly is back", timeout=20)
    assert "wobbly stopped unexpectedly (exit status 3); starting it again in 1 s" in up.log()
    assert up.proc.poll() is None, up.log()

    up.ctrl_c()
    assert up.proc.wait(timeout=15) == 0, up.log()
    _assert_nothing_left(up)


def test_a_child_that_keeps_dying_stops_the_rest_and_says_which(
    tmp_path: Path, start_up: StartUp
) -> None:
    children = [
        ("steady", "import time; time.sleep(120)"),
        ("fragile", "raise SystemExit(3)"),
    ]
    env = _base_env(tmp_path / "instance", free_port())
    env["OUTREACH_REDIS_URL"] = "redis://127.0.0.1:1/0"  # not used by these children
    up = start_up(_supervise(children, 5.0), env)
    try:
        code = up.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the supervisor did not stop after a child kept dying:\n{up.log()}")
    assert code == 1
    assert "fragile stopped unexpectedly (exit status 3); starting it again in 2 s" in up.log()
    assert "fragile stopped 4 times within a minute (exit status 3); stopping the rest" in up.log()
    assert "Valkey" not in up.log()  # OUTREACH_REDIS_URL was given
    _assert_nothing_left(up)


def test_a_child_that_ignores_sigterm_is_killed_with_its_helpers(
    tmp_path: Path, start_up: StartUp
) -> None:
    stubborn = textwrap.dedent(
        """
        import signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # A helper in the same process group that would outlive its parent.
        subprocess.Popen(["sleep", "120"])
        print("stubborn ready", flush=True)
        time.sleep(120)
        """
    )
    children = [("stubborn", stubborn), ("steady", "import time; time.sleep(120)")]
    up = start_up(_supervise(children, 1.0), _base_env(tmp_path / "instance", free_port()))
    up.wait_for_log("stubborn ready", timeout=20)
    up.ctrl_c()
    try:
        code = up.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the supervisor did not stop:\n{up.log()}")
    assert code == 0, up.log()
    assert "stubborn did not stop in time; killing it" in up.log()
    _assert_nothing_left(up)


OPTIONAL = textwrap.dedent(
    """
    import sys
    from outreach.config import Settings
    from workers.processes import ChildSpec, run_up

    python = sys.executable
    children = [
        ChildSpec("steady", (python, "-c", "import time; time.sleep(120)")),
        ChildSpec("extra", (python, "-c", "raise SystemExit(1)"), optional=True),
    ]
    sys.exit(run_up(Settings.from_env(), children, stop_timeout=5.0))
    """
)


def test_an_optional_child_that_stops_leaves_the_rest_running(
    tmp_path: Path, start_up: StartUp
) -> None:
    """The sandbox is optional: a taken port must not keep `make run` from starting."""
    env = _base_env(tmp_path / "instance", free_port())
    env["OUTREACH_REDIS_URL"] = "redis://127.0.0.1:1/0"  # not used by these children
    up = start_up([sys.executable, "-c", OPTIONAL], env)

    up.wait_for_log("extra stopped (exit status 1); everything else keeps running", timeout=20)
    time.sleep(1.0)
    assert up.proc.poll() is None, up.log()
    assert "stopping the rest" not in up.log()

    up.ctrl_c()
    assert up.proc.wait(timeout=15) == 0, up.log()
    _assert_nothing_left(up)
