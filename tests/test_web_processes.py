"""`outreach web` runs a gunicorn process per core, each with its own database connections."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from outreach.config import Settings
from outreach.errors import ConfigurationError
from tests.servers.net import free_port, stop_process, wait_for_port

REPO = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def settings(**env: str) -> Settings:
    return Settings.from_env({"OUTREACH_SECRET_KEY": "s", **env})


def test_one_process_per_core_when_redis_counts_the_throttling(tmp_path: Path) -> None:
    base = {"OUTREACH_INSTANCE_DIR": str(tmp_path)}
    with_redis = settings(**base, OUTREACH_REDIS_URL="redis://127.0.0.1:1/0")

    assert with_redis.web_process_count(cores=4) == 4
    # Without Redis each process would count sign-in attempts on its own.
    assert settings(**base).web_process_count(cores=4) == 1
    assert settings(**base, OUTREACH_WEB_PROCESSES="3").web_process_count(cores=8) == 3


@pytest.mark.parametrize("value", ["0", "many", "-2", "65"])
def test_a_wrong_process_count_is_refused_in_words(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match="OUTREACH_WEB_PROCESSES must be a number"):
        settings(OUTREACH_INSTANCE_DIR=str(tmp_path), OUTREACH_WEB_PROCESSES=value)


def test_the_deployments_gunicorn_settings_use_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTREACH_WEB_PROCESSES", raising=False)
    conf = importlib.reload(importlib.import_module("web.gunicorn_conf"))

    assert conf.workers == len(os.sched_getaffinity(0))
    assert (conf.worker_class, conf.threads) == ("gthread", 4)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_outreach_web_serves_the_board_from_two_processes(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTREACH_")}
    env.update(
        OUTREACH_INSTANCE_DIR=str(tmp_path),
        OUTREACH_PORT=str(port),
        OUTREACH_SECRET_KEY="web-processes-test",
        OUTREACH_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        OUTREACH_WEB_PROCESSES="2",
        OUTREACH_RATE_LIMITS="off",
        PYTHONPATH=str(REPO),
    )
    command = [sys.executable, "-m", "outreach.cli"]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*command, "user", "create", "--email", "ada@example.test", "--name", "Ada"],
        env=env,
        input=b"a long passphrase\n",
        check=True,
        capture_output=True,
    )
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            [*command, "web"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        # gunicorn listens first, then forks its processes.
        deadline = time.monotonic() + 20
        while len(_children(web.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_children(web.pid)) == 2

        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/login")
        response = conn.getresponse()
        cookie = response.getheader("Set-Cookie", "").split(";")[0]
        token = CSRF.search(response.read().decode())
        assert token is not None
        form = {"email": "ada@example.test", "password": "a long passphrase"}
        body = urllib.parse.urlencode({**form, "csrf_token": token.group(1)})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", "/login", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 302
        signed_in = {"Cookie": response.getheader("Set-Cookie", "").split(";")[0]}
        conn.close()

        # A new connection each time: gunicorn hands them to either process.
        for _ in range(12):
            conn = HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/", headers=signed_in)
            board = conn.getresponse()
            assert board.status == 200
            assert "Get started in three steps" in board.read().decode()
            conn.close()
    finally:
        stop_process(web)
    assert "(2 processes)" in log_path.read_text()
