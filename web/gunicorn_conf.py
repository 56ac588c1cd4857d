"""gunicorn's settings for a deployment: `gunicorn --config python:web.gunicorn_conf web.wsgi:app`.

The compose file runs the dashboard with it. A page's work is CPU-bound Python,
so one process per core (threads alone share one interpreter lock), each with a
few threads for requests waiting on the database; OUTREACH_WEB_PROCESSES
overrides the count. Each process imports web.wsgi itself (no preload), so none
inherits another's database connections.
"""

from __future__ import annotations

import os


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


workers = int(os.environ.get("OUTREACH_WEB_PROCESSES") or _cores())
worker_class = "gthread"
threads = 4
