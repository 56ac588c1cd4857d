"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Debian's docker-compose (1.29) validates and renders a file offline with
`docker-compose config`; we read its rendering and check the deployment has what
a career centre needs. The same processes run without Docker in test_up.py and the
end-to-end tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "OUTREACH_SECRET_KEY": "compose-secret-key",
    "OUTREACH_ENCRYPTION_KEYS": "compose-encryption-key",
}


def _compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose not found; install it with: apt-get install -y docker-compose",
            pytrace=False,
        )
    return binary


def _run(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An empty env file, so a developer's own .env cannot change the outcome.
    empty = tmp_path / "empty.env"
    empty.touch()
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED and "COMPOSE" not in k}
    return subprocess.run(
        [_compose(), "--env-file", str(empty), "-f", str(COMPOSE_FILE), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _yaml_to_data(text: str) -> Any:
    """Parse YAML with PyYAML, or else with the interpreter that runs docker-compose."""
    try:
        import yaml
    except ImportError:
        shebang = Path(_compose()).read_text(errors="replace").splitlines()[0]
        python = shebang.removeprefix("#!").split()[0]
        script = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        converted = subprocess.run(
            [python, "-c", script],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return json.loads(converted.stdout)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("compose")
    quiet = _run(tmp_path, "config", "-q", env=REQUIRED)
    assert quiet.returncode == 0, quiet.stderr
    rendered = _run(tmp_path, "config", env=REQUIRED)
    assert rendered.returncode == 0, rendered.stderr
    data = _yaml_to_data(rendered.stdout)
    assert isinstance(data, dict)
    return data


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else list(command)


def test_the_deployment_has_every_process(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"postgres", "redis", "migrate", "web", "worker", "poller"}
    services = config["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert _command(services["migrate"]) == ["outreach", "db", "upgrade"]
    assert _command(services["worker"]) == ["outreach", "worker"]
    assert _command(services["poller"]) == ["outreach", "poller"]
    web = _command(services["web"])
    assert web[0] == "gunicorn" and web[-1] == "web.wsgi:app"
    assert "--bind=0.0.0.0:8000" in web
    assert (REPO / "web" / "wsgi.py").is_file()
    # A process per core, with threads: the settings module gunicorn reads.
    assert "--config=python:web.gunicorn_conf" in web


def test_start_order_and_health_checks(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "poller"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["migrate"]["restart"] == "no"


def test_shared_settings_and_volumes(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("migrate", "web", "worker", "poller"):
        env = services[name]["environment"]
        assert env["OUTREACH_DATABASE_URL"] == (
            "postgresql+psycopg://outreach:pg-password@postgres:5432/outreach"
        ), name
        assert env["OUTREACH_REDIS_URL"] == "redis://redis:6379/0"
        assert env["OUTREACH_SECRET_KEY"] == REQUIRED["OUTREACH_SECRET_KEY"]
        assert env["OUTREACH_ENCRYPTION_KEYS"] == REQUIRED["OUTREACH_ENCRYPTION_KEYS"]
        assert any(v.startswith("outreach-instance:") for v in services[name]["volumes"]), name
    assert any(
        v.startswith("postgres-data:/var/lib/postgresql/data")
        for v in services["postgres"]["volumes"]
    )
    assert {"postgres-data", "outreach-instance"} <= set(config["volumes"])


def test_workers_and_pollers_scale_out(config: dict[str, Any]) -> None:
    """`docker compose up --scale poller=2 --scale worker=4` (README, "Scaling out"):
    a scaled service can have no fixed container name and publish no fixed host port,
    and every copy reaches the same database and Redis, which share the work out."""
    services = config["services"]
    for name in ("worker", "poller"):
        service = services[name]
        assert "container_name" not in service, name
        assert not service.get("ports"), name
        assert service["environment"]["OUTREACH_REDIS_URL"] == "redis://redis:6379/0", name


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_secret_is_required(tmp_path: Path, missing: str) -> None:
    env = {key: value for key, value in REQUIRED.items() if key != missing}
    result = _run(tmp_path, "config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_the_dockerfile_copies_files_that_exist() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    sources: list[str] = []
    for line in dockerfile.splitlines():
        match = re.match(r"COPY\s+(.+)\s+\S+$", line.strip())
        if match:
            sources.extend(match.group(1).split())
    assert {"pyproject.toml", "outreach", "web", "workers", "migrations"} <= set(sources)
    missing = [source for source in sources if not (REPO / source).exists()]
    assert missing == [], f"the Dockerfile copies files that do not exist: {missing}"
    # Installed editable, so `outreach db upgrade` finds migrations/ beside the packages.
    assert "pip install -e ." in dockerfile
