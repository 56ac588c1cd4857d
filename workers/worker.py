"""`outreach worker`: an RQ worker on our queues, plus a periodic outbox sweep."""

from __future__ import annotations

import logging
import threading

from rq import Queue, Worker

from outreach.config import Settings
from workers.queues import ALL_QUEUES, PERIODIC_QUEUE, redis_connection

log = logging.getLogger(__name__)

SWEEP_EVERY = 30.0


def _sweeper(settings: Settings, stop: threading.Event) -> None:
    """Every SWEEP_EVERY seconds, ask for an outbox sweep (as a job, so it runs in a horse)."""
    from workers.jobs import sweep_outbox

    queue = Queue(PERIODIC_QUEUE, connection=redis_connection(settings))
    while not stop.wait(SWEEP_EVERY):
        try:
            queue.enqueue(sweep_outbox, job_id="sweep-outbox", unique=True, result_ttl=60)
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
