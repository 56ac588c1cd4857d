"""What the dashboard keeps for the life of the app: settings, database, secrets, Redis."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.progress_stats import FiguresCache
from web.page_cache import PageCache
from workers.queues import redis_connection

EXTENSION_KEY = "outreach"


@dataclass
class Services:
    """Held on `app.extensions["outreach"]`; one per app, shared by all requests."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret_box: SecretBox
    # The board's figures per user, until their next event (one per app: per database).
    board_figures: FiguresCache = field(default_factory=FiguresCache)
    # The rendered board per user, until their data changes (web.page_cache).
    board_pages: PageCache = field(default_factory=PageCache)
    _redis: Redis | None = field(default=None, repr=False)

    def redis(self) -> Redis:
        """The queue's Redis, connected on first use so the dashboard starts without it.

        :raise ConfigurationError: when no Redis URL is configured.
        """
        if self._redis is None:
            self._redis = redis_connection(self.settings)
        return self._redis

    def close(self) -> None:
        """Release pooled connections (tests and shutdown)."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        self.engine.dispose()


def services() -> Services:
    found = current_app.extensions[EXTENSION_KEY]
    assert isinstance(found, Services)
    return found
