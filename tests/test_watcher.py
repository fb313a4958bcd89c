"""The watcher on a real folder, with the real database and embedding model."""

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ingest_watch.watcher import Watcher
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def running_watcher(services: Services) -> Iterator[Watcher]:
    drop = services.settings.drop_dir
    drop.mkdir(parents=True)
    watcher = Watcher(services.ingestor, drop, stable_seconds=0.5, poll_seconds=0.1)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    yield watcher
    watcher.stop_event.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_dropped_pdf_becomes_searchable(services: Services, running_watcher: Watcher) -> None:
    drop = services.settings.drop_dir
    make_pdf(drop / "contracts" / "acme.pdf", CONTRACT_PAGES)

    def found() -> bool:
        hits = services.retriever.search("notice period for termination", top_k=1)
        return bool(hits) and hits[0].page == 2

    assert wait_for(found)
    assert services.catalog.status_counts().ready == 1


def test_file_written_slowly_is_ingested_once_and_complete(
    services: Services, running_watcher: Watcher
) -> None:
    drop = services.settings.drop_dir
    path = drop / "slow.txt"
    lines = [f"Line {i}: the quarterly audit covers ledger account {i}.\n" for i in range(8)]
    with path.open("w") as handle:
        for line in lines:  # pauses shorter than the quiet period
            handle.write(line)
            handle.flush()
            time.sleep(0.3)
    assert wait_for(lambda: services.catalog.status_counts().ready == 1)
    time.sleep(1.0)
    docs = services.catalog.documents()
    assert len(docs) == 1 and docs[0].version == 1
    hits = services.retriever.search("ledger account 7", top_k=1)
    assert "Line 7" in hits[0].text and "Line 0" in hits[0].text


def test_files_present_at_start_and_temporary_files(services: Services) -> None:
    drop = services.settings.drop_dir
    drop.mkdir(parents=True)
    (drop / "handbook.txt").write_text(CLINIC_TEXT)
    (drop / "download.pdf.part").write_bytes(b"%PDF-partial")
    (drop / ".hidden.txt").write_text("hidden")
    (drop / "broken.pdf").write_bytes(b"not a pdf at all")
    watcher = Watcher(services.ingestor, drop, stable_seconds=0.5, poll_seconds=0.1)
    results = {r.path.name: r.outcome.value for r in watcher.run_once()}
    assert results == {"handbook.txt": "ingested", "broken.pdf": "failed"}
    # A second start finds nothing new: the failed file is not retried until it changes.
    assert {r.path.name: r.outcome.value for r in watcher.run_once()} == {}
    again = Watcher(services.ingestor, drop, stable_seconds=0.5, poll_seconds=0.1)
    assert {r.path.name: r.outcome.value for r in again.run_once()} == {
        "handbook.txt": "unchanged",
        "broken.pdf": "unchanged",
    }
