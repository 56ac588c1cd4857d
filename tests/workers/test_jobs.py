"""Send jobs on a real Redis with a real RQ worker: one job and one SMTP transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FinishedJobRegistry
from sqlalchemy.orm import Session

from outreach.models import Message, MessageStatus
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from workers import jobs
from workers.queues import (
    ALL_QUEUES,
    SEND_QUEUE,
    enqueue_send,
    messages_in_hand,
    send_job_id,
    take_queued_send,
)
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


def finished(redis: Redis) -> set[str]:
    return set(FinishedJobRegistry(SEND_QUEUE, connection=redis).get_job_ids())


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


def test_a_burst_through_one_mailbox_goes_out_in_the_job_that_began_it(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0  # pacing off
    session.commit()
    drafts = make_approved_requests(session, world.user, now, count=5)
    for draft in drafts:
        assert enqueue_send(redis, draft.id) is True
    queue = Queue(SEND_QUEUE, connection=redis)
    worker = OutreachWorker(queues(redis), connection=redis)

    worker.work(burst=True)

    received = smtp.wait_for(5)
    assert {m.message["Message-ID"] for m in received} == {d.message_id for d in drafts}
    assert len(smtp.messages) == 5  # each once
    # The first job sent them all on its session: the other four never ran as jobs.
    assert finished(redis) == {send_job_id(drafts[0].id)}
    assert queue.job_ids == []
    assert not any(redis.exists(f"rq:job:{send_job_id(d.id)}") for d in drafts[1:])
    session.expire_all()
    assert {session.get(Message, d.id).status for d in drafts} == {MessageStatus.SENT}  # type: ignore[union-attr]
    # The burst's note of what it held is gone with it.
    assert redis.keys("outreach:send-job-holds:*") == []
    # A message enqueued again after all that finds nothing to send.
    enqueue_send(redis, drafts[3].id)
    worker.work(burst=True)
    assert len(smtp.messages) == 5


def test_a_paced_mailbox_sends_no_burst_and_leaves_the_other_jobs_waiting(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    # The mailbox's default pace: one to four minutes between two messages.
    drafts = make_approved_requests(session, world.user, now, count=3)
    for draft in drafts:
        assert enqueue_send(redis, draft.id) is True
    worker = OutreachWorker(queues(redis), connection=redis)

    worker.work(burst=True)

    assert len(smtp.wait_for(1)) == 1
    # Each other job ran on its own and was told to wait for the mailbox's next slot.
    assert finished(redis) == {send_job_id(d.id) for d in drafts}
    session.expire_all()
    statuses = sorted(session.get(Message, d.id).status.value for d in drafts)  # type: ignore[union-attr]
    assert statuses == sorted(["sent", "queued", "queued"])
    assert len(smtp.messages) == 1


def test_the_message_a_burst_holds_counts_as_in_a_live_workers_hand(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    redis_server: RedisServer,
    job_environment: None,
    now: datetime,
) -> None:
    """The sweep recovers a SENDING row at once when no live worker holds it: the message a
    burst is sending besides its job's own must count as held, or the sweep would take a
    message for abandoned in the middle of its send."""
    first, second, third = make_approved_requests(session, world.user, now, count=3)
    for draft in (first, second, third):
        enqueue_send(redis, draft.id)
    smtp.hold_after_data = 2.0  # the first job stays in its send for a while
    seen: dict[str, object] = {}

    def meanwhile() -> None:
        # RQ's worker wants the main thread (signals); this looks on from another.
        watcher = Redis.from_url(redis_server.url)
        try:
            deadline = time.monotonic() + 10
            while first.id not in messages_in_hand(watcher):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            # What the running job does when it goes on to the mailbox's next message.
            seen["took"] = take_queued_send(watcher, second.id, 0, send_job_id(first.id))
            seen["in hand"] = messages_in_hand(watcher)
            seen["queued"] = Queue(SEND_QUEUE, connection=watcher).job_ids
            seen["took again"] = take_queued_send(watcher, second.id, 0, send_job_id(first.id))
        finally:
            smtp.hold_after_data = 0.0
            watcher.close()

    looking = threading.Thread(target=meanwhile)
    looking.start()
    try:
        work(redis)
    finally:
        looking.join()

    assert seen["took"] is True
    assert seen["in hand"] == {first.id, second.id}
    assert seen["queued"] == [send_job_id(third.id)]
    assert seen["took again"] is False  # taken once: no other job can take it again
    # The jobs ended: nothing is in anyone's hand.
    assert messages_in_hand(redis) == set()
