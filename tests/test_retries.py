"""A failure is sorted by what it says about the file: the file's own is kept until the
file changes; one that may be the moment's is read once more, quietly; the machine's is
tried again with growing waits.  Every failed file says what happens next."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from ingest_watch.worker import Worker
from rag_core.db import Document, FileRecord, Job
from rag_core.errors import ExtractionFailed, FileRefused, ReadInterrupted, UnsupportedFile
from rag_core.extract import Extracted
from rag_core.ingestion.isolation import IsolatedExtractor
from rag_core.ingestion.results import Outcome
from rag_core.ingestion.retries import BACKOFF_SECONDS, QUIET_SECONDS, next_step, retry_delay
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, encrypt_pdf, make_pdf


class _BusyThenReads:
    """The real reader, but the first `busy` files are cut off as a busy machine cuts
    them off (the wall-clock backstop)."""

    def __init__(self, real: IsolatedExtractor, busy: int) -> None:
        self.real, self.busy = real, busy

    def extract(self, path: Path, progress: object = None) -> Extracted:
        if self.busy:
            self.busy -= 1
            raise ReadInterrupted("reading it was not done after 300 s (the machine was too busy)")
        return self.real.extract(path)

    def close(self) -> None:
        self.real.close()


def _make_due(services: Services, path: Path) -> None:
    """Move the next try of `path`'s content to now (as if its wait had passed)."""
    with services.db.session() as session:
        document_id = session.scalar(
            sa.select(FileRecord.latest_document_id).where(FileRecord.path == str(path))
        )
        session.execute(
            sa.update(Document)
            .where(Document.id == document_id)
            .values(retry_at=sa.func.now() - timedelta(seconds=1))
        )


def _row(services: Services, name: str):  # type: ignore[no-untyped-def]
    return next(row for row in services.catalog.documents() if Path(row.source).name == name)


def test_each_kind_of_failure_has_its_own_next_try() -> None:
    assert retry_delay(FileRefused("exceeds 2,000 pages"), 0) is None
    assert retry_delay(UnsupportedFile("unsupported file type '.jpg'"), 0) is None
    assert retry_delay(ExtractionFailed("damaged or unreadable PDF"), 0) == QUIET_SECONDS
    assert retry_delay(ExtractionFailed("damaged or unreadable PDF"), 1) is None
    waits = [retry_delay(ReadInterrupted("busy"), n) for n in range(len(BACKOFF_SECONDS) + 1)]
    assert waits == [*BACKOFF_SECONDS, None]
    assert waits[:-1] == sorted(waits[:-1])  # growing waits
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert next_step("busy", now + timedelta(minutes=2), now) == "will try again in 2 min"
    assert next_step("encrypted PDF (a password is needed)", None, now).startswith(
        "needs a password"
    )
    assert next_step("damaged or unreadable PDF", None, now).startswith("not tried again until")


def test_a_damaged_file_is_read_once_more_then_kept_as_failed(
    services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(5000))
    first = services.ingestor.ingest_file(path, retry_failed=False)
    assert (first.outcome, first.retry_after) == (Outcome.FAILED, QUIET_SECONDS)
    assert _row(services, "report.pdf").next_step() in {
        "will try again in 60 s",
        "will try again in 59 s",
    }

    # Found again by a rescan before its next try: left alone, and says when.
    waiting = services.ingestor.ingest_file(path, retry_failed=False)
    assert waiting.outcome == Outcome.UNCHANGED
    assert "will try again in" in waiting.message
    assert "unchanged since it failed" not in waiting.message

    _make_due(services, path)
    second = services.ingestor.ingest_file(path, retry_failed=False)
    assert (second.outcome, second.retry_after) == (Outcome.FAILED, None)
    row = _row(services, "report.pdf")
    assert row.retry_at is None
    assert row.next_step() == "not tried again until the file changes, or on Retry"
    kept = services.ingestor.ingest_file(path, retry_failed=False)
    assert kept.message == "unchanged since it failed: damaged or unreadable PDF"


def test_the_file_s_own_failure_is_not_tried_again(services: Services, tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["Salaries are paid on the last working day."])
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf")
    failed = services.ingestor.ingest_file(locked)
    assert (failed.outcome, failed.retry_after) == (Outcome.FAILED, None)
    assert _row(services, "locked.pdf").next_step() == "needs a password: drop a copy without one"


def test_a_read_cut_off_by_a_busy_machine_is_tried_again_not_failed_for_good(
    services: Services, tmp_path: Path
) -> None:
    ingestor = services.ingestor
    ingestor.reader.extractor = _BusyThenReads(ingestor.reader.extractor, busy=1)  # type: ignore[assignment]
    path = tmp_path / "handbook.txt"
    path.write_text(CLINIC_TEXT)
    first = ingestor.ingest_file(path, retry_failed=False)
    assert (first.outcome, first.retry_after) == (Outcome.FAILED, BACKOFF_SECONDS[0])
    assert _row(services, "handbook.txt").next_step() in {
        "will try again in 60 s",
        "will try again in 59 s",
    }

    # The same content under a new name (renamed, as staff do) is not "unchanged since
    # it failed": a transient failure never sticks to the content.
    renamed = path.rename(tmp_path / "staff handbook.txt")
    assert ingestor.retire(path).outcome == Outcome.RETIRED
    again = ingestor.ingest_file(renamed, retry_failed=False)
    assert again.outcome == Outcome.INGESTED, again.message
    assert services.retriever.search("maximum daily dose of paracetamol", top_k=1)


def test_a_touched_file_is_tried_at_once_and_tries_run_out(
    services: Services, tmp_path: Path
) -> None:
    ingestor = services.ingestor
    ingestor.reader.extractor = _BusyThenReads(
        ingestor.reader.extractor, busy=len(BACKOFF_SECONDS) + 2
    )  # type: ignore[assignment]
    path = tmp_path / "rota.txt"
    path.write_text(CLINIC_TEXT)
    assert ingestor.ingest_file(path, retry_failed=False).retry_after == BACKOFF_SECONDS[0]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, no change
    touched = ingestor.ingest_file(path, retry_failed=False)
    assert (touched.outcome, touched.retry_after) == (Outcome.FAILED, BACKOFF_SECONDS[1])
    for wait in BACKOFF_SECONDS[2:]:
        _make_due(services, path)
        assert ingestor.ingest_file(path, retry_failed=False).retry_after == wait
    _make_due(services, path)
    last = ingestor.ingest_file(path, retry_failed=False)
    assert last.retry_after is None
    assert last.message.endswith(f"(tried {len(BACKOFF_SECONDS) + 1} times)")
    # A person's Retry starts a fresh run of tries.
    assert ingestor.ingest_file(path, retry_failed=True).retry_after == BACKOFF_SECONDS[0]


def test_the_worker_queues_the_next_try_and_a_change_does_not_wait_for_it(
    services: Services, tmp_path: Path
) -> None:
    ingestor = services.ingestor
    ingestor.reader.extractor = _BusyThenReads(ingestor.reader.extractor, busy=1)  # type: ignore[assignment]
    path = tmp_path / "minutes.txt"
    path.write_text(CLINIC_TEXT)
    worker = Worker(services.queue, ingestor)
    services.queue.enqueue(path)
    assert worker.run_one().outcome == Outcome.FAILED  # type: ignore[union-attr]
    assert worker.run_one() is None  # the next try waits its turn

    def wait_left() -> float:
        with services.db.session() as session:
            left = session.scalar(
                sa.select(sa.extract("epoch", Job.run_after - sa.func.now())).where(
                    Job.path == str(path), Job.status == "queued"
                )
            )
        assert left is not None
        return float(left)

    assert 30 < wait_left() <= BACKOFF_SECONDS[0]
    path.write_text(CLINIC_TEXT + "\nUpdated by the practice manager.")
    services.queue.enqueue(path)  # the file changed meanwhile: read now, not in a minute
    assert wait_left() <= 0
    assert worker.run_one().outcome == Outcome.INGESTED  # type: ignore[union-attr]
