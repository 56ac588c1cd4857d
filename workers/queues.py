"""Redis connection, queues named by purpose, and the enqueue helpers.

A job is enqueued by the dotted name of its function in workers.jobs, not by the
function itself: the dashboard and the CLI enqueue without importing the job code
(the mail libraries, the sending use cases), and workers.jobs, whose outbox sweep
enqueues, depends on this module alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from outreach.config import Settings
from outreach.errors import ConfigurationError

SEND_QUEUE = "send"
PERIODIC_QUEUE = "periodic"
ALL_QUEUES = (SEND_QUEUE, PERIODIC_QUEUE)

# The jobs, by the dotted names RQ stores and the worker imports (tests check each resolves).
SEND_MESSAGE_JOB = "workers.jobs.send_message"
RECONCILE_SENT_JOB = "workers.jobs.reconcile_sent"
RUN_CYCLE_JOB = "workers.jobs.run_cycle"
SWEEP_OUTBOX_JOB = "workers.jobs.sweep_outbox"

# A job in one of these states will not run again: its id may be reused.
_OVER = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
# A started job whose worker has not shown a sign of life for this long is dead;
# RQ itself only notices much later, when it cleans up its registries.
_SILENT_FOR = timedelta(minutes=2)


def _is_over(job: Job, status: JobStatus | None) -> bool:
    if status is None or status in _OVER:
        return True
    if status is JobStatus.STARTED and job.last_heartbeat is not None:
        heartbeat = job.last_heartbeat
        if heartbeat.tzinfo is None:
            heartbeat = heartbeat.replace(tzinfo=UTC)
        return datetime.now(UTC) - heartbeat > _SILENT_FOR
    return False


def redis_connection(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise ConfigurationError(
            "OUTREACH_REDIS_URL is not set; start everything with `outreach up`, which runs "
            "a bundled Redis, or point OUTREACH_REDIS_URL at your own"
        )
    return Redis.from_url(settings.redis_url)


def send_job_id(message_id: int, attempt: int = 0) -> str:
    """One job id per message and attempt.

    Enqueuing the same attempt twice (a double click, two sweepers) gives one
    job; a new attempt (after a temporary failure, or after a worker died
    mid-job and left its job looking alive in Redis) gets a job of its own.
    """
    return f"send-message-{message_id}" if attempt == 0 else f"send-message-{message_id}-{attempt}"


def enqueue_once(
    connection: Redis, queue_name: str, job_id: str, job_name: str, *args: Any
) -> bool:
    """Enqueue the job `job_name(*args)` unless a job with this id is waiting or running.

    A finished or failed job with the same id is replaced: its id is derived
    from the work (a message id), and the work may be due again, say after a
    temporary failure.
    """
    queue = Queue(queue_name, connection=connection)
    options: dict[str, Any] = {"job_id": job_id, "result_ttl": 600, "failure_ttl": 7 * 24 * 3600}
    try:
        queue.enqueue(job_name, *args, unique=True, **options)
        return True
    except DuplicateJobError:
        pass
    try:
        existing: Job | None = Job.fetch(job_id, connection=connection)
        status = existing.get_status(refresh=True) if existing else None
    except NoSuchJobError:
        existing, status = None, None
    if existing is not None and not _is_over(existing, status):
        return False
    if existing is not None:
        existing.delete()
    try:
        queue.enqueue(job_name, *args, unique=True, **options)
    except DuplicateJobError:
        return False  # another process re-enqueued it a moment ago
    return True


def enqueue_send(connection: Redis, message_id: int, attempt: int = 0) -> bool:
    """Ask a worker to send one approved message; False when a job is already waiting.

    The job id is derived from the message, so a double click or two sweepers
    give one job. The database row, not this job, decides whether anything is
    sent (see outreach.sending).
    """
    job_id = send_job_id(message_id, attempt)
    return enqueue_once(connection, SEND_QUEUE, job_id, SEND_MESSAGE_JOB, message_id)


def enqueue_reconcile(connection: Redis, message_id: int) -> bool:
    """Ask a worker to consult the Sent folder about one message."""
    job_id = f"reconcile-sent-{message_id}"
    return enqueue_once(connection, SEND_QUEUE, job_id, RECONCILE_SENT_JOB, message_id)
