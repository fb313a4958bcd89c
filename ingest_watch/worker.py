"""Takes jobs from the PostgreSQL queue and brings each path's document up to date."""

from __future__ import annotations

import logging
import os
import socket

from rag_core.access.audit import Action, AuditTrail
from rag_core.errors import DatabaseUnavailable, DiskFull
from rag_core.ingestion.heartbeat import Heartbeat
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.jobs import ClaimedJob, JobQueue
from rag_core.ingestion.results import IngestResult, Outcome

log = logging.getLogger("ingest_watch")

BUSY_RETRY_SECONDS = 2.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        ingestor: Ingestor,
        name: str | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.queue = queue
        self.ingestor = ingestor
        self.name = name or worker_name()
        self.audit = audit  # files entering and leaving the library go on record
        self._interrupted: ClaimedJob | None = None  # cut off by the database going away

    def run_one(self) -> IngestResult | None:
        """Process one claimable job; None when there is none.  Raises
        DatabaseUnavailable when the database goes away: the job cut off is put back
        once it answers again (the next call), not counted as a failed attempt."""
        self._put_back_interrupted()
        job = self.queue.claim(self.name)
        if job is None:
            return None
        progress: tuple[int, int, str] | None = None

        def renew() -> None:
            self.queue.heartbeat(job, *(progress or (None, None, None)))

        def report(done: int, total: int, unit: str = "passages") -> None:
            nonlocal progress
            progress = (done, total, unit)

        try:
            with Heartbeat(renew, every=self.queue.params.lease_seconds / 3):
                result = self.ingestor.ingest_file(
                    job.path, retry_failed=job.force, reindex=job.reindex, progress=report
                )
        except DatabaseUnavailable:
            self._interrupted = job
            raise
        except DiskFull:
            # Not even the file's state could be written: try it again later.
            wait = self.ingestor.options.disk_full_retry_seconds
            log.warning("disk full while taking %s; trying again in %g s", job.path, wait)
            self.queue.release(job, self.name, delay_seconds=wait)
            return IngestResult(job.path, Outcome.FAILED, "disk full; will be retried")
        except Exception:
            # The loop's edge: a bug.  The job is retried with backoff; the file's own
            # problems never get here (they are results).
            log.exception("job for %s failed; it will be retried", job.path)
            self._retry(job, "unexpected error (details in the watcher's log)")
            return IngestResult(job.path, Outcome.FAILED, "will be retried")
        # The next try is queued before this job is done, so a watcher killed between
        # the two redoes the job rather than losing the try.
        if result.outcome == Outcome.BUSY:
            self.queue.enqueue(
                job.path, delay_seconds=BUSY_RETRY_SECONDS, force=job.force, reindex=job.reindex
            )
        elif result.retry_after is not None:
            # Due then (`rag_core.ingestion.retries`), so no `force` is needed; one
            # would reset the count of tries that a person's Retry resets.
            self.queue.enqueue(job.path, delay_seconds=result.retry_after, reindex=job.reindex)
        self.queue.complete(job)
        level = logging.WARNING if result.outcome == Outcome.FAILED else logging.INFO
        log.log(level, "%s", result.line())
        self._record(result)
        return result

    def _put_back_interrupted(self) -> None:
        self.ingestor.release_abandoned()
        if self._interrupted is not None:
            self.queue.release(self._interrupted, self.name)
            log.info("the database is back; %s is queued again", self._interrupted.path)
            self._interrupted = None

    def _record(self, result: IngestResult) -> None:
        for attachment in result.attachments:
            self._record(attachment)
        action = {Outcome.INGESTED: Action.FILE_INGESTED, Outcome.RETIRED: Action.FILE_REMOVED}
        if self.audit is None or result.outcome not in action:
            return
        detail = {"path": str(result.path), "document_id": result.document_id}
        try:
            self.audit.record(None, action[result.outcome], detail)
        except Exception:
            # The file is done either way; the next rescan does not repeat this record.
            log.exception("could not record %s in the audit trail", result.path)

    def drain(self) -> list[IngestResult]:
        """Process jobs until none is claimable now."""
        results = []
        while (result := self.run_one()) is not None:
            results.append(result)
        return results

    def _retry(self, job: ClaimedJob, reason: str) -> None:
        try:
            self.queue.retry_or_fail(job, reason)
        except Exception:
            # If even that fails, the job's lease runs out and it is retried anyway.
            log.exception("could not reschedule the job for %s", job.path)
