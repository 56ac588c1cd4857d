"""OutreachWorker's leaner RQ bookkeeping keeps what RQ's tools and our dead-worker
detection read: the job's result and registries, the worker's counts and state, and
a running job's heartbeat (and none once it has ended)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from tests.servers.redis import RedisServer
from workers.queues import ALL_QUEUES, SEND_QUEUE, worker_alive
from workers.worker import OutreachWorker


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def worker(redis: Redis, **options: float) -> OutreachWorker:
    queues = [Queue(name, connection=redis) for name in ALL_QUEUES]
    return OutreachWorker(queues, connection=redis, **options)


def test_a_finished_job_is_recorded_as_rq_records_it(redis: Redis) -> None:
    queue = Queue(SEND_QUEUE, connection=redis)
    jobs = [queue.enqueue("builtins.len", "abc" * n, result_ttl=600) for n in (1, 2, 3)]
    running = worker(redis)

    started = time.monotonic()
    running.work(burst=True)
    # A worker told to stop (here: out of work) quits at once, not after its listener's wait.
    assert time.monotonic() - started < 5

    for n, job in zip((1, 2, 3), jobs, strict=True):
        job = Job.fetch(job.id, connection=redis)
        assert job.get_status() is JobStatus.FINISHED
        assert job.return_value() == 3 * n
        assert job.started_at is not None and job.ended_at is not None
        assert job.ended_at >= job.started_at
    assert set(FinishedJobRegistry(SEND_QUEUE, connection=redis).get_job_ids()) == {
        job.id for job in jobs
    }
    assert StartedJobRegistry(SEND_QUEUE, connection=redis).get_job_ids() == []
    recorded = Worker.find_by_key(running.key, connection=redis)
    assert recorded is not None
    assert recorded.successful_job_count == 3
    assert recorded.get_state() == "idle"


def test_a_long_job_is_beaten_while_it_runs_and_not_after(redis: Redis) -> None:
    queue = Queue(SEND_QUEUE, connection=redis)
    job = queue.enqueue("time.sleep", 1.6)
    running = worker(redis, job_monitoring_interval=0.5)

    running.work(burst=True)

    job = Job.fetch(job.id, connection=redis)
    assert job.get_status() is JobStatus.FINISHED
    assert job.last_heartbeat is not None and job.started_at is not None
    # Beaten while asleep: RQ's own beats all come before the job starts.
    assert (job.last_heartbeat - job.started_at).total_seconds() >= 0.9
    time.sleep(1.0)
    # No late beat put the ended job back among the started ones.
    assert StartedJobRegistry(SEND_QUEUE, connection=redis).get_job_ids() == []
    assert Job.fetch(job.id, connection=redis).get_status() is JobStatus.FINISHED


def test_a_job_in_progress_belongs_to_a_live_worker(redis: Redis) -> None:
    queue = Queue(SEND_QUEUE, connection=redis)
    job = queue.enqueue("time.sleep", 1.0)
    running = worker(redis)
    seen: list[bool] = []

    def look() -> None:
        time.sleep(0.5)
        seen.append(worker_alive(redis, Job.fetch(job.id, connection=redis)))

    looker = threading.Thread(target=look)
    looker.start()
    running.work(burst=True)
    looker.join()

    assert seen == [True]
