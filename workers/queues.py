"""Redis connection, queues named by purpose, and the enqueue helpers.

A job is enqueued by the dotted name of its function in workers.jobs, not by the
function itself: the dashboard and the CLI enqueue without importing the job code
(the mail libraries, the sending use cases), and workers.jobs, whose outbox sweep
enqueues, depends on this module alone.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

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
# The periodic jobs' fixed ids: one of each waits or runs at a time (enqueue_once).
RUN_CYCLE_ID = "run-cycle"
SWEEP_OUTBOX_ID = "sweep-outbox"

# A job in one of these states will not run again: its id may be reused.
_OVER = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
# A working RQ worker renews its key and its job's heartbeat every 30 s (its job
# monitoring interval); this much silence means the worker died. RQ itself only
# notices when its maintenance cleans the registries, ten minutes or more later.
_SILENT_FOR = timedelta(seconds=90)
# A job taken off its queue is marked started within milliseconds; one still
# "queued" but in no queue after this pause was taken by a worker that died.
_TAKING_PAUSE = 0.5


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(connection: Redis, job: Job) -> bool:
    """Whether the worker running `job` is still alive.

    A worker on this host is checked by its process id, so a worker killed here
    is known dead at once; one elsewhere is dead when its key has expired or it
    has been silent for longer than its heartbeats allow.
    """
    if not job.worker_name:
        return False
    key = Worker.redis_worker_namespace_prefix + job.worker_name
    hostname, pid = connection.hmget(key, ["hostname", "pid"])
    if hostname is None and pid is None:
        return False  # the key expired, or the worker signed off
    if hostname is not None and pid is not None and _text(hostname) == socket.gethostname():
        if not _process_alive(int(pid)):
            return False
    heartbeat = job.last_heartbeat
    if heartbeat is None:
        return True  # just started: it has not had time to beat yet
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    return datetime.now(UTC) - heartbeat <= _SILENT_FOR


def _taken_by_dead_worker(connection: Redis, job: Job) -> bool:
    """A queued job that is in no queue: a worker took it off and died before starting it."""
    queue = Queue(job.origin, connection=connection)
    if connection.lpos(queue.key, job.id) is not None:
        return False
    time.sleep(_TAKING_PAUSE)
    if job.get_status(refresh=True) is not JobStatus.QUEUED:
        return False
    if connection.lpos(queue.key, job.id) is not None:
        return False
    # RQ keeps a taken job in an intermediate list until it starts; it would
    # otherwise fail the job we are about to enqueue under the same id.
    connection.lrem(queue.intermediate_queue_key, 0, job.id)
    return True


def _is_over(connection: Redis, job: Job, status: JobStatus | None) -> bool:
    if status is None or status in _OVER:
        return True
    if status is JobStatus.STARTED:
        return not worker_alive(connection, job)
    if status is JobStatus.QUEUED:
        return _taken_by_dead_worker(connection, job)
    return False


def messages_in_hand(connection: Redis) -> set[int]:
    """Ids of the messages that a live worker is sending at this moment.

    Read from RQ's registry of started send jobs directly, without its
    clean-up, which would fail jobs on its own schedule.
    """
    registry = StartedJobRegistry(SEND_QUEUE, connection=connection)
    held: set[int] = set()
    for entry in connection.zrange(registry.key, 0, -1):
        job_id = _text(entry).split(":", 1)[0]
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        if job.func_name == SEND_MESSAGE_JOB and job.args and worker_alive(connection, job):
            held.add(int(job.args[0]))
            # A job sending its mailbox's burst holds one more message at a time.
            holding = connection.get(_HOLDING_KEY.format(job.id))
            if holding is not None:
                held.add(int(holding))
    return held


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
    if existing is not None and not _is_over(connection, existing, status):
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


# The message a send job is sending besides its own (a burst, take_queued_send).
_HOLDING_KEY = "outreach:send-job-holds:{}"
# Longer than any burst with its messages' time limits: the key outlives a killed worker
# only until then, and messages_in_hand asks whether the job's worker lives anyway.
_HOLDING_TTL = 15 * 60
# Off the queue, the taken job's record deleted (so a later enqueue of the same attempt
# is not refused as a duplicate: the database, not the job, says whether the message
# still needs sending) and the holder's note written, in one step on the server.
_TAKE_QUEUED = """
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('del', KEYS[2])
redis.call('set', KEYS[3], ARGV[2], 'EX', ARGV[3])
return 1
"""


def take_queued_send(connection: Redis, message_id: int, attempt: int, holder_job_id: str) -> bool:
    """Take the waiting send job of `message_id` (for `attempt`) off the queue, so that the
    running job `holder_job_id` sends the message instead; True when it took it, and no
    worker can start it any more. False when it is not waiting there (not enqueued yet,
    or a worker has it): the caller leaves the message to that job or the sweep.

    Until the holder's next take or its end, messages_in_hand counts the message as in
    the holder's hand.
    """
    job_id = send_job_id(message_id, attempt)
    keys = (
        Queue(SEND_QUEUE, connection=connection).key,
        Job.key_for(job_id),
        _HOLDING_KEY.format(holder_job_id),
    )
    taken = connection.eval(_TAKE_QUEUED, len(keys), *keys, job_id, message_id, _HOLDING_TTL)
    return bool(taken)


def release_held(connection: Redis, holder_job_id: str) -> None:
    """The job `holder_job_id` holds no message of a burst any more."""
    connection.delete(_HOLDING_KEY.format(holder_job_id))


def enqueue_reconcile(connection: Redis, message_id: int) -> bool:
    """Ask a worker to consult the Sent folder about one message."""
    job_id = f"reconcile-sent-{message_id}"
    return enqueue_once(connection, SEND_QUEUE, job_id, RECONCILE_SENT_JOB, message_id)
