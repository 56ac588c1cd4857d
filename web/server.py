"""Serve the dashboard with gunicorn, a production WSGI server, from inside our own process."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class DashboardServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app object we built, instead of an import string."""

    def __init__(self, app: Flask, bind: str, processes: int = 1, threads: int = 4) -> None:
        self._app = app
        self._options: dict[str, Any] = {
            "bind": bind,
            # A page's work is CPU-bound Python: one process per core uses them all
            # (threads alone share one interpreter lock). SQLite takes the few writes
            # of several processes in turn; Redis counts the throttling together.
            "workers": processes,
            "post_fork": _fresh_connections,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            # The OAuth callback's code and state never reach the access log.
            "logger_class": "web.access_log.RedactingLogger",
            "graceful_timeout": 10,
            # The control socket lives in $HOME and would clash between instances.
            "control_socket_disable": True,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def _fresh_connections(_server: Any, worker: Any) -> None:
    """In each new process: drop the database connections inherited from the parent.

    The app (and its engine) is built before gunicorn forks; two processes must
    never share one connection, so each opens its own (SQLAlchemy's pooling and
    multiprocessing recipe: dispose with close=False).
    """
    app: Flask = worker.app.load()
    app.extensions["outreach"].engine.dispose(close=False)


def serve(app: Flask, host: str, port: int, processes: int = 1) -> None:
    """Serve until SIGINT or SIGTERM, then finish requests in flight and return."""
    DashboardServer(app, f"{host}:{port}", processes).run()
