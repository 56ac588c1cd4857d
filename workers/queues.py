"""Redis connection, queues named by purpose, and the enqueue helpers."""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError

from outreach.config import Settings
from outreach.errors import ConfigurationError

SEND_QUEUE = "send"
PERIODIC_QUEUE = "periodic"
ALL_QUEUES = (SEND_QUEUE, PERIODIC_QUEUE)


def redis_connection(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise ConfigurationError(
            "OUTREACH_REDIS_URL is not set; start everything with `outreach up`, which runs "
            "a bundled Redis, or point OUTREACH_REDIS_URL at your own"
        )
    return Redis.from_url(settings.redis_url)


def send_job_id(message_id: int) -> str:
    return f"send-message-{message_id}"


def enqueue_send(connection: Redis, message_id: int) -> bool:
    """Ask a worker to send one approved message; False when a job is already waiting.

    The job id is derived from the message, so a double click or two sweepers
    give one job. The database row, not this job, decides whether anything is
    sent (see outreach.sending).
    """
    from workers.jobs import send_message

    queue = Queue(SEND_QUEUE, connection=connection)
    try:
        queue.enqueue(
            send_message,
            message_id,
            job_id=send_job_id(message_id),
            unique=True,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except DuplicateJobError:
        return False
    return True
