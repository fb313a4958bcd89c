"""The watcher on a real folder, with the real database and embedding model."""

import time

from ingest_watch.watcher import Watcher
from ingest_watch.worker import Worker
from rag_core.services import Services
from tests.conftest import LiveWatcher
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf, wait_for


def test_dropped_pdf_becomes_searchable(services: Services, live_watcher: LiveWatcher) -> None:
    drop = services.settings.drop_dir
    make_pdf(drop / "contracts" / "acme.pdf", CONTRACT_PAGES)

    def found() -> bool:
        hits = services.retriever.search("notice period for termination", top_k=1)
        return bool(hits) and hits[0].page == 2

    assert wait_for(found)
    [row] = services.catalog.documents()
    assert (row.status, row.document_type, row.pages) == ("ready", "contracts", 4)


def test_file_written_slowly_is_ingested_once_and_complete(
    services: Services, live_watcher: LiveWatcher
) -> None:
    drop = services.settings.drop_dir
    path = drop / "slow.txt"
    lines = [f"Line {i}: the quarterly audit covers ledger account {i}.\n" for i in range(10)]
    with path.open("w") as handle:
        for line in lines:  # pauses shorter than the 0.5 s quiet period, 3 s in all
            handle.write(line)
            handle.flush()
            time.sleep(0.3)
    assert wait_for(lambda: services.catalog.status_counts().ready == 1)
    assert wait_for(live_watcher.idle)
    docs = services.catalog.documents()
    assert len(docs) == 1 and docs[0].version == 1
    hits = services.retriever.search("ledger account 9", top_k=1)
    assert "Line 9" in hits[0].text and "Line 0" in hits[0].text


def test_start_up_catches_up_with_the_folder(services: Services) -> None:
    drop = services.settings.drop_dir
    drop.mkdir(parents=True)
    (drop / "handbook.txt").write_text(CLINIC_TEXT)
    (drop / "old.txt").write_text("The cafeteria closes at 3 pm on Fridays.")
    for temporary in ("download.pdf.part", "~$draft.docx", ".~lock.sheet.ods#", ".hidden.txt"):
        (drop / temporary).write_bytes(b"%PDF-partial")
    (drop / "broken.pdf").write_bytes(b"not a pdf at all")

    def start() -> dict[str, str]:
        """One start of the watcher: catch up, work through the queue."""
        watcher = Watcher(services.queue, services.catalog, drop, stable_seconds=0.5)
        watcher.queue_everything_now()
        results = Worker(services.queue, services.ingestor).drain()
        return {r.path.name: r.outcome.value for r in results}

    assert start() == {"handbook.txt": "ingested", "old.txt": "ingested", "broken.pdf": "failed"}
    # Nothing changed: nothing to do, and the failed file is not retried until it changes.
    assert start() == {}
    # While the watcher was down: one file deleted, one changed, one added.
    (drop / "old.txt").unlink()
    (drop / "handbook.txt").write_text(CLINIC_TEXT + "\nAspirin is not given under 16.\n")
    (drop / "new.txt").write_text("Parking permits are renewed every January.")
    assert start() == {"handbook.txt": "ingested", "old.txt": "retired", "new.txt": "ingested"}
    hits = services.retriever.search("cafeteria Fridays", top_k=5)
    assert hits and not any("cafeteria" in hit.text for hit in hits)
    counts = services.catalog.status_counts()
    assert (counts.ready, counts.failed, counts.queued) == (2, 1, 0)
