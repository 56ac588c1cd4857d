"""Small networking and process helpers shared by the test server fixtures."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from workers.processes import group_members, process_table

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Return count distinct free ports (calling free_port() repeatedly may repeat one)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def log_tail(log_path: Path | str | None, lines: int = 40) -> str:
    """Return the last lines of a log file, or a note saying why there is none."""
    if log_path is None:
        return "(no log file)"
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError as exc:
        return f"(log {log_path} unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 10.0,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | str | None = None,
) -> None:
    """Poll until host:port accepts a TCP connection; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server process {proc.args!r} exited with {proc.returncode} before "
                f"{host}:{port} opened; log tail:\n{log_tail(log_path)}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"{host}:{port} did not accept connections within {timeout} s; "
                f"log tail:\n{log_tail(log_path)}"
            )
        time.sleep(0.01)


_PR_SET_CHILD_SUBREAPER = 36
_subreaper: bool | None = None


def _ensure_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux only); True if it worked."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def _process_group(pgid: int) -> list[int]:
    """PIDs (zombies included) whose process group is pgid."""
    return group_members(pgid)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Kill a server started with start_new_session=True, with all its children, and reap it."""
    # The server's children outlive it for a moment and get re-parented; PID 1 on the test
    # machines never reaps them, so they would stay <defunct>. As a subreaper we adopt them.
    subreaper = _ensure_subreaper()
    # SIGKILL the whole process group: graceful shutdown (Dovecot takes ~3 s on SIGTERM) buys
    # nothing for throwaway servers, and the group takes the server's own children with it.
    # Once the leader is reaped its PID may be reused, so only signal a group that still exists.
    if proc.returncode is None or _process_group(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    if subreaper and os.path.isdir("/proc"):
        for pid in _process_group(proc.pid):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass  # Not ours (someone else reaped it, or it was never re-parented to us).


def _children_of(pid: int) -> list[int]:
    return [info.pid for info in process_table() if info.ppid == pid]


def descendants(pid: int) -> list[int]:
    """Every living descendant of `pid`, children first."""
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for parent in frontier for child in _children_of(parent)]
        found.extend(children)
        frontier = children
    return found


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and every descendant, wherever their process group, and reap them.

    RQ puts each job's work horse in a process group of its own, so killing the
    worker's group alone would leave the horse running the job.
    """
    subreaper = _ensure_subreaper()
    below = descendants(proc.pid)
    for pid in [*below, proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    if subreaper:
        for pid in below:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
