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
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.utils import now
from rq.worker import WorkerStatus

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


class _JobBeats:
    """One thread for the worker's life that beats the running job's heartbeat every
    `every` seconds (a thread started and joined per job cost more than the job's
    SMTP transaction on a loaded machine).

    A beat runs under the lock that `watch` takes, so once `watch(None)` returns no
    beat of the finished job can still arrive (it would put the job back in RQ's
    registry of started jobs).
    """

    def __init__(self, beat: Callable[[Job], None], every: float) -> None:
        self._beat = beat
        self._every = every
        self._changed = threading.Condition()
        self._job: Job | None = None
        self._due = math.inf
        threading.Thread(target=self._run, name="outreach-heartbeat", daemon=True).start()

    def watch(self, job: Job | None) -> None:
        """Beat `job` from now on (None: the job ended, stop beating)."""
        with self._changed:
            self._job = job
            self._due = time.monotonic() + self._every if job is not None else math.inf
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                wait = self._due - time.monotonic()
                if wait > 0:
                    self._changed.wait(None if math.isinf(wait) else wait)
                    continue
                assert self._job is not None
                self._due = time.monotonic() + self._every
                self._beat(self._job)


# The worker's own key lives worker_ttl + 60 s (8 min) after each beat; RQ beats it
# six times around every job. Once in this many seconds is plenty.
_WORKER_BEAT_EVERY = 10.0
# `rq suspend` is noticed within this many seconds rather than before every job.
_SUSPENSION_CHECK_EVERY = 1.0
# The longest the worker's command listener (`rq` stop/kill commands) blocks between
# looks at whether it should end. RQ uses 60 s, and since redis-py 8.2 stopping the
# listener waits for it: every worker took up to a minute to quit.
_LISTENER_WAKES_EVERY = 1.0


class OutreachWorker(SimpleWorker):
    """Runs each job in this process, beating its heartbeat, and closes idle SMTP sessions
    while it waits for the next job.

    RQ's bookkeeping around a job took about 18 round trips to Redis, more than the
    job's own SMTP transaction on loopback. Here it takes four: the job taken off
    its queue, read, marked started (one pipeline), and marked finished (one
    pipeline). What was cut, and why nothing relies on it:

    - the worker's own heartbeat, sent six times per job, goes at most every 10 s
      (its key lives 8 minutes; workers.queues.worker_alive reads the key and the
      job's own heartbeat, which is still written when the job starts and every
      30 s while it runs);
    - `rq suspend` is checked once a second, not before every job;
    - the worker's state is written only when it changes (BUSY and IDLE go in the
      pipelines that start and finish the job);
    - the two pipelines that start a job are sent as one;
    - finishing a job does not WATCH and read its dependents: our jobs never have
      any (workers.queues enqueues without depends_on); a job with a repeat or a
      callback takes RQ's own path.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._starting: Pipeline | None = None
        self._beats: _JobBeats | None = None
        self._suspension_checked = -math.inf

    def execute_job(self, job: Job, queue: Queue) -> None:
        if self._beats is None:
            self._beats = _JobBeats(self._beat, self.job_monitoring_interval)
        self._beats.watch(job)
        try:
            super().execute_job(job, queue)
        finally:
            self._beats.watch(None)

    def _beat(self, job: Job) -> None:
        # RQ's forking worker beats from the parent while the horse works; here a thread
        # does, every job_monitoring_interval (30 s), as long as the job runs.
        try:
            self.maintain_heartbeats(job)
        except Exception as error:  # noqa: BLE001 - the next beat tries again
            log.warning("could not beat the job's heartbeat: %s", error)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and timeout is None and self.last_heartbeat is not None:
            if (now() - self.last_heartbeat).total_seconds() < _WORKER_BEAT_EVERY:
                return
        super().heartbeat(timeout, pipeline)

    def subscribe(self) -> None:
        # RQ's subscribe (rq 2.12) with a listener that notices its stop within a second.
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=_LISTENER_WAKES_EVERY,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def check_for_suspension(self, burst: bool) -> None:
        if time.monotonic() - self._suspension_checked < _SUSPENSION_CHECK_EVERY:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def prepare_execution(self, job: Job) -> Execution:
        # Queued here and sent with prepare_job_execution's pipeline, just after.
        self._starting = self.connection.pipeline()
        self.execution = Execution.create(
            job, self.get_heartbeat_ttl(job), pipeline=self._starting, worker_name=self.name
        )
        self.set_state(WorkerStatus.BUSY, pipeline=self._starting)
        return self.execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        pipeline, self._starting = self._starting, None
        if pipeline is None:
            super().prepare_job_execution(job, remove_from_intermediate_queue)
            return
        # RQ's own prepare_job_execution (rq 2.12), on the pipeline prepare_execution began.
        with pipeline:
            self.set_current_job_id(job.id, pipeline=pipeline)
            self.set_current_job_working_time(0, pipeline=pipeline)
            heartbeat_ttl = self.get_heartbeat_ttl(job)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            if remove_from_intermediate_queue:
                queue = Queue(job.origin, connection=self.connection)
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            pipeline.execute()

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if _has_callbacks(job):
            super().handle_execution_ended(job, queue, heartbeat_ttl)
            return
        # RQ beats the job here to cover its callbacks' time; without callbacks the job
        # leaves the started registry in the very next pipeline.
        job.ended_at = now()

    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry
    ) -> None:
        if _has_callbacks(job) or job.repeats_left:
            super().handle_job_success(job, queue, started_job_registry)
            return
        assert job.started_at is not None and job.ended_at is not None
        # RQ's handle_job_success (rq 2.12) without the dependents (see the class docstring).
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                execution = self.execution
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id if execution else None,
                    execution_started_at=execution.created_at if execution else None,
                    execution_ended_at=job.ended_at,
                )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            pipeline.execute()
        self.log.info(
            "Successfully completed %s job in %ss on worker %s",
            job.description,
            job.ended_at - job.started_at,
            self.name,
        )

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


def _has_callbacks(job: Job) -> bool:
    return bool(
        job._success_callback_name or job._failure_callback_name or job._stopped_callback_name
    )


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
