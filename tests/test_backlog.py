"""How long the files still waiting will take: the measured rate and the work left.
Real database and ingestion for the figures it reads; the arithmetic on its own."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from rag_core.db import Document
from rag_core.ingestion.backlog import Outlook, _covered_seconds
from rag_core.services import Services
from tests.helpers import CONTRACT_PAGES, make_pdf


def test_busy_time_counts_overlapping_work_once_and_idle_time_not_at_all() -> None:
    t = datetime(2026, 11, 29, 9, 0).astimezone()

    def span(start: int, end: int) -> tuple[datetime, datetime]:
        return t + timedelta(seconds=start), t + timedelta(seconds=end)

    # Two workers side by side for 0-10 and 5-12, then an hour idle, then 3 s more.
    assert _covered_seconds([span(5, 12), span(0, 10), span(3600, 3603), span(6, 8)]) == 15
    assert _covered_seconds([]) == 0


def test_the_sentence_says_what_waits_and_for_how_long() -> None:
    assert Outlook(0, 0, 1e6, 20.0).summary() is None
    assert Outlook(3, 2_500_000, None, None).summary() == "3 files to read (2.5 MB)."
    assert Outlook(12, 30_000_000, 100_000, 21.4).summary() == (
        "12 files to read (30.0 MB): about 5 min left at the recent 21 pages/s."
    )
    assert Outlook(1, 4_000, 50_000, None).summary() == (
        "1 file to read (4.0 KB): under a minute left at the recent 50.0 KB/s."
    )


def test_outlook_measures_the_rate_and_counts_only_files_with_work_left(
    services: Services,
) -> None:
    drop = services.settings.drop_dir
    done = [make_pdf(drop / f"done-{n}.pdf", [f"Report {n}.", *CONTRACT_PAGES]) for n in range(3)]
    for path in done:
        services.ingestor.ingest_file(path)
    with services.db.session() as session:
        stored = session.execute(
            sa.select(Document.size_bytes, Document.page_count, Document.ingest_seconds)
        ).all()
    assert len(stored) == 3 and all(seconds and seconds > 0 for _, _, seconds in stored)

    waiting = [make_pdf(drop / f"new-{n}.pdf", [f"New {n}.", *CONTRACT_PAGES]) for n in range(2)]
    for path in waiting:
        services.queue.enqueue(path)
    services.queue.enqueue(done[0])  # a rescan's check: unchanged, no work
    services.queue.enqueue(drop / "gone.pdf")  # a removal: no reading
    services.queue.enqueue(done[1], reindex=True)  # asked to read again: work

    outlook = services.backlog.outlook()
    assert outlook.files_waiting == 3
    assert outlook.bytes_waiting == sum(p.stat().st_size for p in [*waiting, done[1]])
    assert outlook.bytes_per_second is not None and outlook.pages_per_second is not None
    # Stored one after another here, so the busy time is about the sum of their times
    # (each span ends at its commit's start, by the database clock).
    busy = sum(seconds for _, _, seconds in stored)
    expected = sum(size for size, _, _ in stored) / busy
    assert abs(outlook.bytes_per_second / expected - 1) < 0.05
    assert outlook.seconds_left == outlook.bytes_waiting / outlook.bytes_per_second
    summary = outlook.summary()
    assert summary is not None and summary.startswith("3 files to read (")


def test_a_file_being_read_counts_what_is_left_of_it(services: Services) -> None:
    drop = services.settings.drop_dir
    path = make_pdf(drop / "long.pdf", [f"Page {n}." for n in range(40)])
    services.queue.enqueue(path)
    size = path.stat().st_size
    assert services.backlog.outlook().bytes_waiting == size
    job = services.queue.claim("worker")
    assert job is not None
    # Taken: the file's record is written at once, as it is found; it still counts.
    services.ingestor.ingest_file(path)  # stored meanwhile by another route
    services.queue.heartbeat(job, done=30, total=40)
    assert services.backlog.outlook().bytes_waiting == size // 4
