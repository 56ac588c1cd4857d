"""`outreach worker`: an RQ worker on our queues, plus a periodic sweep and the cycle's clock.

Jobs run in the worker process itself, one after another (RQ's SimpleWorker), not
in a work horse forked per job: a fork, a fresh database connection and an SMTP
login cost 40 ms or more per message, against under 2 ms for the SMTP
transaction. The worker keeps its engine, its compiled statements and each
mailbox's SMTP session from one job to the next (workers.jobs).

What the forking worker gave for free is kept: a thread beats the job's heartbeat
while it runs (workers.queues.worker_alive judges a silent job dead after 90 s),
and killing the worker process kills its job with it, which is what the kill
drills do.

The sweep is driven from a separate, spawned process rather than a thread, so
that a long job never delays it and a crashed job cannot take it down.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import threading
from multiprocessing.process import BaseProcess

from rq import Queue, SimpleWorker
from rq.job import Job

from outreach.config import Settings
from workers.queues import (
    ALL_QUEUES,
    PERIODIC_QUEUE,
    RUN_CYCLE_ID,
    RUN_CYCLE_JOB,
    SWEEP_OUTBOX_ID,
    SWEEP_OUTBOX_JOB,
    enqueue_once,
    redis_connection,
)

log = logging.getLogger(__name__)

# Seconds from a worker's start to its first sweep: time for it to sign in to Redis.
_FIRST_SWEEP_AFTER = 2.0


def _sweeper(settings: Settings, parent: int) -> None:
    """Every sweep interval, ask for the cycle's due steps and an outbox sweep,
    until the worker is gone."""
    import signal
    import time

    # Ctrl-C reaches the whole process group; the worker stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = redis_connection(settings)
    # The first round soon after start: a worker coming back after a crash
    # recovers what the dead one left without waiting a whole interval.
    pause = min(_FIRST_SWEEP_AFTER, settings.sweep_interval)
    while os.getppid() == parent:
        time.sleep(pause)
        pause = settings.sweep_interval
        try:
            # The cycle first: a follow-up it drafts and auto-approves is sent by the sweep.
            enqueue_once(connection, PERIODIC_QUEUE, RUN_CYCLE_ID, RUN_CYCLE_JOB)
            enqueue_once(connection, PERIODIC_QUEUE, SWEEP_OUTBOX_ID, SWEEP_OUTBOX_JOB)
        except Exception as error:  # noqa: BLE001 - the next round tries again
            log.warning("could not schedule the outbox sweep: %s", error)


_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class QuietRoutine(logging.Filter):
    """Drops RQ's routine INFO lines: the four it writes for each periodic job at every
    sweep (taken, completed, OK, result kept) and its registry cleaning.

    `outreach up` shares one terminal between every process, and those lines
    buried what matters there. Warnings and errors pass, and so does every line
    about a message being sent and what the jobs themselves log.
    """

    def __init__(self, job_ids: tuple[str, ...], job_names: tuple[str, ...]) -> None:
        super().__init__()
        words = "|".join(re.escape(word) for word in job_ids)
        self._mentions_job = re.compile(rf"(?<![\w-])(?:{words})(?![\w-])")
        self._job_names = job_names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        message = _ANSI_COLOUR.sub("", record.getMessage())
        if "cleaning registries for queue" in message:
            return False
        if any(name in message for name in self._job_names):
            return False
        return self._mentions_job.search(message) is None


def quiet_routine_logging() -> QuietRoutine:
    """Put QuietRoutine on RQ's worker logger."""
    quiet = QuietRoutine((RUN_CYCLE_ID, SWEEP_OUTBOX_ID), (RUN_CYCLE_JOB, SWEEP_OUTBOX_JOB))
    logging.getLogger("rq.worker").addFilter(quiet)
    return quiet


def _start_sweeper(settings: Settings) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=_sweeper, args=(settings, os.getpid()), name="outreach-sweeper", daemon=True
    )
    process.start()
    return process


class OutreachWorker(SimpleWorker):
    """Runs each job in this process, beating its heartbeat, and closes idle SMTP sessions
    while it waits for the next job."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        done = threading.Event()
        beats = threading.Thread(
            target=self._beat, args=(job, done), name="outreach-heartbeat", daemon=True
        )
        beats.start()
        try:
            super().execute_job(job, queue)
        finally:
            done.set()
            beats.join()

    def _beat(self, job: Job, done: threading.Event) -> None:
        # RQ's forking worker beats from the parent while the horse works; here a thread
        # does, every job_monitoring_interval (30 s), as long as the job runs.
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except Exception as error:  # noqa: BLE001 - the next beat tries again
                log.warning("could not beat the job's heartbeat: %s", error)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        import workers.jobs

        while True:
            idle_in = workers.jobs.smtp_idle_in()
            if idle_in is None or timeout is None or max_idle_time is not None:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            # Wait for a job only until a kept SMTP session is due to close, then close it.
            result = super().dequeue_job_and_maintain_ttl(timeout, max(1, math.ceil(idle_in)))
            if result is not None:
                return result
            workers.jobs.close_idle_smtp()


def run(settings: Settings, burst: bool = False) -> None:
    """Work the send and periodic queues until stopped (or until empty with `burst`)."""
    # Imported and warmed before the first job, so it costs what the others do.
    import workers.jobs

    workers.jobs.warm_up()

    quiet_routine_logging()
    connection = redis_connection(settings)
    queues = [Queue(name, connection=connection) for name in ALL_QUEUES]
    sweeper = None if burst else _start_sweeper(settings)
    try:
        OutreachWorker(queues, connection=connection).work(burst=burst, with_scheduler=not burst)
    finally:
        workers.jobs.dispose_runtime()
        if sweeper is not None:
            sweeper.terminate()
            sweeper.join(5)
