"""What is still to ingest, how fast ingestion goes, and so about how long the rest
will take: a figure a person can plan with ("12 files waiting, about 3 min").

The rate is measured, not assumed: the bytes (and pages) of the documents stored
lately, divided by the time during which at least one of them was being worked on
(the union of their [start, end] spans).  That counts workers running side by side
once, and leaves out the time the queue stood empty.  The work left is the size of
the files queued or being read (less what is already embedded of the latter), leaving
out files the queue will find unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rag_core.db import Database, Document, DocumentStatus, FileRecord, Job, JobStatus

RECENT = 200  # documents the rate is measured over (the latest stored)
RECENT_WITHIN = timedelta(hours=6)  # older ones say little about this machine now


@dataclass(frozen=True)
class Outlook:
    files_waiting: int  # queued or being read, not counting ones that will be unchanged
    bytes_waiting: int
    bytes_per_second: float | None  # None: nothing stored lately to measure by
    pages_per_second: float | None

    @property
    def seconds_left(self) -> float | None:
        if not self.files_waiting or not self.bytes_per_second:
            return None
        return self.bytes_waiting / self.bytes_per_second

    def summary(self) -> str | None:
        """One sentence, or None when nothing waits."""
        if not self.files_waiting:
            return None
        files = f"{self.files_waiting} file{'s' * (self.files_waiting != 1)} to read"
        size = f" ({_size(self.bytes_waiting)})"
        seconds = self.seconds_left
        if seconds is None:
            return f"{files}{size}."
        speed = (
            f"{self.pages_per_second:.0f} pages/s"
            if self.pages_per_second
            else f"{_size(int(self.bytes_per_second or 0))}/s"
        )
        return f"{files}{size}: {_duration(seconds)} left at the recent {speed}."


class Backlog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def outlook(self) -> Outlook:
        with self.db.session() as session:
            jobs = session.execute(
                sa.select(
                    Job.path,
                    Job.status,
                    Job.force,
                    Job.reindex,
                    Job.progress_done,
                    Job.progress_total,
                    FileRecord.size_bytes,
                    FileRecord.mtime_ns,
                    Document.status.label("document_status"),
                )
                .outerjoin(FileRecord, FileRecord.path == Job.path)
                .outerjoin(Document, Document.id == FileRecord.latest_document_id)
                .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            ).all()
            recent = session.execute(
                sa.select(
                    Document.updated_at,
                    Document.ingest_seconds,
                    Document.size_bytes,
                    Document.page_count,
                )
                .where(
                    Document.ingest_seconds.is_not(None),
                    Document.status == DocumentStatus.READY,
                    Document.updated_at > sa.func.now() - RECENT_WITHIN,
                )
                .order_by(Document.updated_at.desc())
                .limit(RECENT)
            ).all()
        files, waiting = 0, 0
        for job in jobs:
            size = _work_left(job)
            if size is not None:
                files += 1
                waiting += size
        spans = [(end - timedelta(seconds=seconds), end) for end, seconds, _, _ in recent]
        busy = _covered_seconds(spans)
        if busy <= 0:
            return Outlook(files, waiting, None, None)
        stored = sum(size or 0 for _, _, size, _ in recent)
        pages = sum(count or 0 for _, _, _, count in recent)
        return Outlook(files, waiting, stored / busy, pages / busy if pages else None)


def _work_left(job: sa.Row[Any]) -> int | None:
    """Bytes still to read for one job; None when it will find the file as it was
    stored, or as it failed (a rescan's check), or gone (a removal: no reading)."""
    try:
        stat = Path(str(job.path)).stat()
    except OSError:
        return None
    if job.status == JobStatus.RUNNING:
        if job.progress_total:
            return int(stat.st_size * (1 - (job.progress_done or 0) / job.progress_total))
        return stat.st_size
    unchanged = (job.size_bytes, job.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    settled = job.document_status == DocumentStatus.READY or (
        job.document_status == DocumentStatus.FAILED and not job.force
    )
    if unchanged and settled and not job.reindex:
        return None
    return stat.st_size


def _covered_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Length of the union of time spans."""
    total, end_so_far = 0.0, None
    for start, end in sorted(spans):
        if end_so_far is None or start > end_so_far:
            total += (end - start).total_seconds()
            end_so_far = end
        elif end > end_so_far:
            total += (end - end_so_far).total_seconds()
            end_so_far = end
    return total


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"
