"""Serve the dashboard with gunicorn, a production WSGI server, from inside our own process."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class DashboardServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app object we built, instead of an import string."""

    def __init__(self, app: Flask, bind: str, threads: int = 4) -> None:
        self._app = app
        self._options: dict[str, Any] = {
            "bind": bind,
            # One process: the SQLite default wants few writers, and threads are
            # plenty for one person's dashboard. A deployment runs gunicorn itself.
            "workers": 1,
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


def serve(app: Flask, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then finish requests in flight and return."""
    DashboardServer(app, f"{host}:{port}").run()
