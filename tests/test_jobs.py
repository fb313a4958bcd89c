"""The PostgreSQL job queue: claims, leases, retries.  Real database, no models."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.db import Database, Job, open_database
from rag_core.ingestion.jobs import JobQueue, QueueParams


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, tmp_path, "unused")
    yield database
    database.dispose()


def statuses(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [
            tuple(r)
            for r in session.execute(sa.select(Job.path, Job.status).order_by(Job.id)).all()
        ]  # type: ignore[misc]


def test_a_waiting_path_is_queued_once(db: Database) -> None:
    queue = JobQueue(db, QueueParams())
    for _ in range(3):
        queue.enqueue(Path("/drop/a.pdf"))
    queue.enqueue(Path("/drop/a.pdf"), force=True)
    with db.session() as session:
        jobs = session.scalars(sa.select(Job)).all()
        assert [(j.path, j.force) for j in jobs] == [("/drop/a.pdf", True)]


def test_concurrent_workers_never_claim_the_same_job(db: Database) -> None:
    queue = JobQueue(db, QueueParams())
    for i in range(40):
        queue.enqueue(Path(f"/drop/{i}.pdf"))
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (job := queue.claim(name)) is not None:
            with lock:
                claimed.append(job.id)
            queue.complete(job)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 40
    assert {status for _, status in statuses(db)} == {"done"}


def test_a_dead_workers_job_is_taken_over_when_its_lease_runs_out(db: Database) -> None:
    queue = JobQueue(db, QueueParams(lease_seconds=0.5))
    queue.enqueue(Path("/drop/big.pdf"))
    first = queue.claim("dies")
    assert first is not None
    assert queue.claim("other") is None  # leased
    time.sleep(0.7)
    second = queue.claim("other")
    assert second is not None and second.id == first.id and second.attempts == 2


def test_heartbeat_keeps_the_lease_and_records_progress(db: Database) -> None:
    queue = JobQueue(db, QueueParams(lease_seconds=0.6))
    queue.enqueue(Path("/drop/big.pdf"))
    job = queue.claim("alive")
    assert job is not None
    for done in (64, 128):
        time.sleep(0.4)
        queue.heartbeat(job, done, 300, "passages")
        assert queue.claim("other") is None
    with db.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert (row.progress_done, row.progress_total, row.progress_unit) == (128, 300, "passages")


def test_a_path_is_not_worked_on_twice_at_once(db: Database) -> None:
    queue = JobQueue(db, QueueParams())
    queue.enqueue(Path("/drop/a.pdf"))
    running = queue.claim("w1")
    assert running is not None
    queue.enqueue(Path("/drop/a.pdf"))  # changed again while being processed
    assert queue.claim("w2") is None
    queue.complete(running)
    assert queue.claim("w2") is not None


def test_failures_back_off_then_give_up_with_the_reason(db: Database) -> None:
    queue = JobQueue(db, QueueParams(max_attempts=2, backoff_seconds=0.3))
    queue.enqueue(Path("/drop/a.pdf"))
    job = queue.claim("w")
    assert job is not None
    queue.retry_or_fail(job, "database went away")
    assert queue.claim("w") is None  # backing off
    time.sleep(0.4)
    again = queue.claim("w")
    assert again is not None and again.attempts == 2
    queue.retry_or_fail(again, "database went away")
    with db.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert row.status == "failed"
        assert row.error == "database went away (gave up after 2 attempts)"


def test_a_job_cut_off_by_the_database_goes_back_without_counting_an_attempt(
    db: Database,
) -> None:
    queue = JobQueue(db, QueueParams(max_attempts=1))
    queue.enqueue(Path("/drop/a.pdf"), force=True)
    job = queue.claim("w1")
    assert job is not None and job.attempts == 1
    queue.release(job, "w1")
    again = queue.claim("w2")
    assert again is not None and (again.id, again.attempts, again.force) == (job.id, 1, True)


def test_a_job_taken_over_meanwhile_is_not_put_back(db: Database) -> None:
    queue = JobQueue(db, QueueParams(lease_seconds=0.2))
    queue.enqueue(Path("/drop/a.pdf"))
    job = queue.claim("w1")
    assert job is not None
    time.sleep(0.3)  # w1 was cut off long enough for its lease to run out
    taken = queue.claim("w2")
    assert taken is not None and taken.id == job.id
    queue.release(job, "w1")  # w1 back: the job is w2's now, and stays running
    assert statuses(db) == [("/drop/a.pdf", "running")]
    assert queue.claim("w3") is None
