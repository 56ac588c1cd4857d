"""`outreach worker`: an RQ worker on our queues, plus a periodic outbox sweep."""

from __future__ import annotations

import logging
import threading

from rq import Queue, Worker

from outreach.config import Settings
from workers.queues import ALL_QUEUES, PERIODIC_QUEUE, enqueue_once, redis_connection

log = logging.getLogger(__name__)


def _sweeper(settings: Settings, stop: threading.Event) -> None:
    """Every sweep interval, ask for an outbox sweep (as a job, so it runs in a horse)."""
    from workers.jobs import sweep_outbox

    connection = redis_connection(settings)
    while not stop.wait(settings.sweep_interval):
        try:
            enqueue_once(connection, PERIODIC_QUEUE, "sweep-outbox", sweep_outbox)
        except Exception as error:  # noqa: BLE001 - the next round tries again
            log.warning("could not schedule the outbox sweep: %s", error)


def run(settings: Settings, burst: bool = False) -> None:
    """Work the send and periodic queues until stopped (or until empty with `burst`)."""
    connection = redis_connection(settings)
    queues = [Queue(name, connection=connection) for name in ALL_QUEUES]
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_sweeper, args=(settings, stop), daemon=True).start()
    try:
        Worker(queues, connection=connection).work(burst=burst, with_scheduler=not burst)
    finally:
        stop.set()
