"""A job queue in PostgreSQL: one job is "bring this path's document up to date".

Workers claim jobs with `SELECT … FOR UPDATE SKIP LOCKED`, so several workers (threads,
processes, or machines sharing DATABASE_URL) never take the same job.  A claimed job
holds a lease that the worker renews while it works; if the worker dies, the lease runs
out and another worker takes the job over.  A job that fails unexpectedly is retried
with exponential backoff up to a limit, then ends as failed with the reason.  A path
being processed is never claimed a second time at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from rag_core.db import Database, Job, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueParams:
    lease_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 2.0  # first retry after this; doubles each attempt


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    path: Path
    attempts: int
    force: bool
    reindex: bool = False


def _in_seconds(seconds: float) -> sa.ColumnElement[datetime]:
    """The database's now() plus some seconds: all workers share the database clock."""
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


_CLAIM = sa.text("""
UPDATE jobs SET status = 'running', locked_by = :worker, attempts = attempts + 1,
       lease_until = now() + make_interval(secs => :lease), updated_at = now(),
       progress_done = NULL, progress_total = NULL, progress_unit = NULL
WHERE id = (
    SELECT j.id FROM jobs j
    WHERE ((j.status = 'queued' AND j.run_after <= now())
           OR (j.status = 'running' AND j.lease_until < now()))
      AND NOT EXISTS (
          SELECT 1 FROM jobs other
          WHERE other.path = j.path AND other.id <> j.id
            AND other.status = 'running' AND other.lease_until >= now())
    ORDER BY j.run_after, j.id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING id, path, attempts, force, reindex
""")


class JobQueue:
    def __init__(self, db: Database, params: QueueParams) -> None:
        self.db = db
        self.params = params

    def enqueue(
        self,
        path: Path,
        *,
        delay_seconds: float = 0.0,
        force: bool = False,
        reindex: bool = False,
    ) -> None:
        """Queue a path; if it is already waiting, `force` and `reindex` are added to
        that job, and it runs by the sooner of the two times (a change does not wait
        for a retry queued for later).  `force` retries content that failed; `reindex`
        extracts and embeds unchanged content again."""
        statement = insert(Job).values(
            path=str(path), run_after=_in_seconds(delay_seconds), force=force, reindex=reindex
        )
        with self.db.session() as session:
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["path"],
                    index_where=sa.text("status = 'queued'"),
                    set_={
                        "force": Job.force | statement.excluded.force,
                        "reindex": Job.reindex | statement.excluded.reindex,
                        "run_after": sa.func.least(Job.run_after, statement.excluded.run_after),
                    },
                )
            )

    def claim(self, worker: str) -> ClaimedJob | None:
        with self.db.session() as session:
            row = session.execute(
                _CLAIM, {"worker": worker, "lease": self.params.lease_seconds}
            ).first()
        if row is None:
            return None
        return ClaimedJob(row.id, Path(row.path), row.attempts, row.force, row.reindex)

    def heartbeat(
        self,
        job: ClaimedJob,
        done: int | None = None,
        total: int | None = None,
        unit: str | None = None,
    ) -> None:
        """Renew the lease, and record progress (e.g. 128 of 300 passages embedded)."""
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == job.id)
                .values(
                    lease_until=_in_seconds(self.params.lease_seconds),
                    progress_done=done,
                    progress_total=total,
                    progress_unit=unit,
                    updated_at=sa.func.now(),
                )
            )

    def complete(self, job: ClaimedJob) -> None:
        self._finish(job, JobStatus.DONE, None)

    def retry_or_fail(self, job: ClaimedJob, reason: str) -> None:
        """After an unexpected failure: try again later, or give up past the limit."""
        if job.attempts >= self.params.max_attempts:
            log.error("giving up on %s after %d attempts: %s", job.path, job.attempts, reason)
            self._finish(job, JobStatus.FAILED, f"{reason} (gave up after {job.attempts} attempts)")
            return
        delay = self.params.backoff_seconds * 2 ** (job.attempts - 1)
        with self.db.session() as session:
            # Re-queue this job unless the path was queued again meanwhile.
            waiting = session.scalar(
                sa.select(Job.id).where(Job.path == str(job.path), Job.status == JobStatus.QUEUED)
            )
            if waiting is not None:
                session.execute(
                    sa.update(Job)
                    .where(Job.id == job.id)
                    .values(status=JobStatus.DONE, error=reason, lease_until=None)
                )
                return
            session.execute(
                sa.update(Job)
                .where(Job.id == job.id)
                .values(
                    status=JobStatus.QUEUED,
                    error=reason,
                    lease_until=None,
                    locked_by=None,
                    run_after=_in_seconds(delay),
                    updated_at=sa.func.now(),
                )
            )

    def release(self, job: ClaimedJob, worker: str, delay_seconds: float = 0.0) -> None:
        """Put a job `worker` holds back without counting the attempt: it was cut off
        by something that was not its fault (the database went away, the disk filled).
        A job another worker has taken over since (its lease ran out) is left alone."""
        mine = (Job.id == job.id) & (Job.locked_by == worker) & (Job.status == JobStatus.RUNNING)
        with self.db.session() as session:
            waiting = session.scalar(
                sa.select(Job.id).where(Job.path == str(job.path), Job.status == JobStatus.QUEUED)
            )
            if waiting is not None:  # the path was queued again meanwhile: that job will do
                session.execute(
                    sa.update(Job).where(mine).values(status=JobStatus.DONE, lease_until=None)
                )
                session.execute(
                    sa.update(Job)
                    .where(Job.id == waiting)
                    .values(force=Job.force | job.force, reindex=Job.reindex | job.reindex)
                )
                return
            session.execute(
                sa.update(Job)
                .where(mine)
                .values(
                    status=JobStatus.QUEUED,
                    attempts=Job.attempts - 1,
                    lease_until=None,
                    locked_by=None,
                    run_after=_in_seconds(delay_seconds),
                    updated_at=sa.func.now(),
                )
            )

    def _finish(self, job: ClaimedJob, status: JobStatus, error: str | None) -> None:
        with self.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == job.id)
                .values(status=status, error=error, lease_until=None, updated_at=sa.func.now())
            )
