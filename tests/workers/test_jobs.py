"""Send jobs on a real Redis with a real RQ worker: one job and one SMTP transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session

from outreach.models import Message, MessageStatus
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from workers import jobs
from workers.queues import ALL_QUEUES, SEND_QUEUE, enqueue_send, send_job_id
from workers.worker import OutreachWorker


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def approved(session: Session, world: World, now: datetime) -> Message:
    (draft,) = make_approved_requests(session, world.user, now)
    return draft


def work(redis: Redis) -> None:
    OutreachWorker(queues(redis), connection=redis).work(burst=True)


def queues(redis: Redis) -> list[Queue]:
    return [Queue(name, connection=redis) for name in ALL_QUEUES]


def test_double_enqueue_gives_one_job_and_one_email(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    draft = approved(session, world, now)

    assert enqueue_send(redis, draft.id) is True
    assert enqueue_send(redis, draft.id) is False
    assert Queue(SEND_QUEUE, connection=redis).job_ids == [send_job_id(draft.id)]
    work(redis)
    # Even a job enqueued again after the send finds nothing to do.
    enqueue_send(redis, draft.id)
    work(redis)

    assert len(smtp.wait_for(1)) == 1
    assert len(smtp.messages) == 1
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.SENT


def test_sweep_enqueues_approved_messages_whose_job_was_lost(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    draft = approved(session, world, now)
    # The approval committed, but no job reached Redis (it was down, or flushed).

    assert jobs.sweep_outbox() == 1
    work(redis)

    (received,) = smtp.wait_for(1)
    assert received.message["Message-ID"] == draft.message_id
    assert jobs.sweep_outbox() == 0


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_enqueued_again(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    draft = approved(session, world, now)
    assert enqueue_send(redis, draft.id) is True
    queue = Queue(SEND_QUEUE, connection=redis)
    # What RQ does when a worker takes a job: it moves the id to an intermediate
    # list and marks the job started a moment later. This worker died in between,
    # so the job stays "queued" in no queue, where no other worker will find it.
    redis.lmove(queue.key, queue.intermediate_queue_key)
    assert queue.job_ids == []

    assert enqueue_send(redis, draft.id) is True
    assert queue.job_ids == [send_job_id(draft.id)]
    assert redis.llen(queue.intermediate_queue_key) == 0
    work(redis)

    (received,) = smtp.wait_for(1)
    assert received.message["Message-ID"] == draft.message_id
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.SENT


def test_a_worker_waiting_for_jobs_closes_the_smtp_session_it_kept(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    first, second = make_approved_requests(session, world.user, now, count=2)
    enqueue_send(redis, first.id)
    work(redis)
    assert len(smtp.wait_for(1)) == 1
    sender = jobs._sender()
    assert sender.open_sessions == 1  # kept for the next message through this mailbox
    sender.idle_limit = 1.0

    # No job for a while: the worker closes the idle session as it waits, then takes the
    # job that comes.
    later = threading.Timer(3.0, enqueue_send, args=(redis, second.id))
    later.start()
    try:
        taken = OutreachWorker(queues(redis), connection=redis).dequeue_job_and_maintain_ttl(30)
    finally:
        later.join()

    assert taken is not None and taken[0].id == send_job_id(second.id)
    assert sender.open_sessions == 0
