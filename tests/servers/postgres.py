"""Fresh PostgreSQL databases for tests: on the local server if one answers, else a private one."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from .net import LOOPBACK, free_port, log_tail, stop_process, wait_for_port

ADMIN_URL_ENV = "OUTREACH_TEST_POSTGRES_URL"
LOCAL_ADMIN_URL = f"postgresql://postgres@{LOOPBACK}:5432/postgres"


def _answers(url: URL) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _libpq(url: URL) -> str:
    # psycopg wants a plain postgresql:// URI, without SQLAlchemy's "+driver" part.
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin that has initdb, or None."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        return None
    newest = max(candidates, key=lambda path: int(Path(path).parent.parent.name))
    return Path(newest).parent


class PostgresServer:
    """Hands out uniquely named databases and drops them all at the end."""

    def __init__(self, admin_url: str | None = None) -> None:
        self._admin_url: URL | None = make_url(admin_url) if admin_url else None
        self._created: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None
        self._cluster: _Cluster | None = None

    @property
    def admin_url(self) -> URL:
        if self._admin_url is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._admin_url

    def start(self, timeout: float = 20.0) -> None:
        """Pick the server: env override, else the machine's :5432, else a throwaway cluster."""
        if self._admin_url is not None:
            return
        override = os.environ.get(ADMIN_URL_ENV)
        if override:
            self._admin_url = make_url(override)
            return
        local = make_url(LOCAL_ADMIN_URL)
        if _answers(local):
            self._admin_url = local
            return
        self._start_cluster(timeout)

    def _start_cluster(self, timeout: float, durable: bool = False) -> None:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise FileNotFoundError(
                "no PostgreSQL answers on 127.0.0.1:5432 and no initdb under "
                "/usr/lib/postgresql/*/bin: apt-get install postgresql, or set " + ADMIN_URL_ENV
            )
        # initdb and postgres refuse to run as root; as root, run them as "postgres". Popen's
        # user=/group= (rather than runuser) keeps the server our direct child, so we reap it.
        as_user: dict[str, Any] = {}
        directory = Path(tempfile.mkdtemp(prefix="outreach-postgres-"))
        self._directory = directory
        if os.geteuid() == 0:
            as_user = {"user": "postgres", "group": "postgres", "extra_groups": []}
            shutil.chown(directory, "postgres", "postgres")
        data = directory / "data"
        log_path = directory / "server.log"
        init = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            cwd=directory, capture_output=True, check=False, **as_user,
        )  # fmt: skip
        if init.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed:\n{init.stdout.decode()}{init.stderr.decode()}")
        self._cluster = _Cluster(bin_dir, data, directory, log_path, free_port(), as_user, durable)
        try:
            self._proc = self._cluster.launch(timeout)
        except BaseException:
            self.stop()
            raise
        self._admin_url = make_url(
            f"postgresql://postgres@{LOOPBACK}:{self._cluster.port}/postgres"
        )

    def start_private(self, timeout: float = 20.0) -> None:
        """A throwaway cluster of our own, whatever else answers: one a test may stop
        abruptly and start again without losing a committed row."""
        self._start_cluster(timeout, durable=True)

    def stop_abruptly(self) -> None:
        """PostgreSQL's immediate shutdown, as in a crash; the data stays for start_again."""
        if self._proc is None:
            raise RuntimeError("only a cluster this object started can be stopped")
        _stop_postmaster(self._proc)

    def start_again(self, timeout: float = 20.0) -> None:
        """Start the stopped cluster on its old port, recovering like after a crash."""
        if self._cluster is None:
            raise RuntimeError("only a cluster this object started can be started again")
        self._proc = self._cluster.launch(timeout)

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a database, empty or a copy of `template` (which nobody may be connected to);
        return its SQLAlchemy URL (postgresql+psycopg://...)."""
        name = name or f"outreach_test_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(statement)
        self._created.append(name)
        return self.admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )

    def drop_databases(self) -> None:
        """Drop every database this object created, even with connections still open."""
        if not self._created or self._admin_url is None:
            self._created.clear()
            return
        with psycopg.connect(_libpq(self._admin_url), autocommit=True) as conn:
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created.clear()

    def stop(self) -> None:
        """Drop our databases, and stop and delete the throwaway cluster if we started one."""
        if self._proc is not None:
            # No point dropping databases in a cluster that is about to be deleted.
            self._created.clear()
            _stop_postmaster(self._proc)
            self._proc = None
        else:
            self.drop_databases()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
        self._admin_url = None


@dataclass(frozen=True)
class _Cluster:
    """A cluster's files and port, so its postmaster can be started again after a stop."""

    bin_dir: Path
    data: Path
    directory: Path
    log_path: Path
    port: int
    as_user: dict[str, Any]
    # Commits survive an abrupt stop only when they wait for their WAL to be written.
    durable: bool = False

    def launch(self, timeout: float) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            if self.as_user:
                shutil.chown(self.log_path, "postgres", "postgres")
            # Durability settings off: the cluster is thrown away with the session.
            proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", f"listen_addresses={LOOPBACK}",
                 "-c", f"unix_socket_directories={self.directory}",
                 "-c", "fsync=off", "-c", f"synchronous_commit={'on' if self.durable else 'off'}",
                 "-c", "full_page_writes=off"],
                cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, **self.as_user,
            )  # fmt: skip
        try:
            wait_for_port(LOOPBACK, self.port, timeout, proc, self.log_path)
            url = make_url(f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres")
            # The port opens a moment before the server accepts logins ("starting up").
            if not _wait_until_answers(url, timeout):
                raise RuntimeError(f"PostgreSQL did not accept logins:\n{log_tail(self.log_path)}")
        except BaseException:
            _stop_postmaster(proc)
            raise
        return proc


def _stop_postmaster(proc: subprocess.Popen[bytes]) -> None:
    # SIGQUIT is PostgreSQL's "immediate shutdown": the postmaster kills its backends and frees
    # its shared memory (a bare SIGKILL would leak /dev/shm segments), all within milliseconds.
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGQUIT)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            pass
    stop_process(proc)


def _wait_until_answers(url: URL, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return True
        time.sleep(0.05)
    return False


def start_postgres(admin_url: str | None = None) -> PostgresServer:
    """Start (or attach to) PostgreSQL and return a PostgresServer ready to create databases."""
    server = PostgresServer(admin_url)
    server.start()
    return server
