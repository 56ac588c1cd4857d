"""`outreach up`, `web`, `worker` and `poller`: the commands that run a process.

They import `web` and `workers` inside the function, so importing the CLI never
pulls Flask or RQ into the core (the import-linter contract allows only these edges).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import click

from outreach.cli.common import configure_logging, load_settings, with_redis
from outreach.db import upgrade_database


@click.command("web")
@click.option("--host", help="Listen address (default: OUTREACH_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: OUTREACH_PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the dashboard with gunicorn (a process per core, a few threads each)."""
    settings = load_settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    configure_logging("web")
    from web.app import create_app
    from web.server import serve

    app = create_app(settings)
    processes = settings.web_process_count(_cores())
    click.echo(
        f"Outreach dashboard on http://{settings.host}:{settings.port}/ "
        f"({processes} process{'es' if processes != 1 else ''})"
    )
    serve(app, settings.host, settings.port, processes)


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the whole machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
def worker(burst: bool) -> None:
    """Run an RQ worker (with its scheduler) that sends approved messages."""
    settings = with_redis(load_settings())
    configure_logging("worker")
    from workers import worker as worker_process

    worker_process.run(settings, burst=burst)


@click.command("poller")
@click.option("--once", is_flag=True, help="Check every mailbox once, then exit.")
def poller(once: bool) -> None:
    """Watch every connected mailbox for replies."""
    settings = load_settings()
    configure_logging("poller")
    from workers import poller as poller_process

    poller_process.run(settings, once=once)


@click.command("up")
def up() -> None:
    """Migrate, then run the dashboard, a worker and the poller until Ctrl-C.

    Without OUTREACH_REDIS_URL a bundled Valkey server is started for them.
    """
    settings = load_settings()
    upgrade_database(settings.database_url)
    from workers.processes import run_up

    sys.exit(run_up(settings))
