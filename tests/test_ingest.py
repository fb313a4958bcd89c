"""Ingest on the real database and the real embedding model."""

import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rag_core.db import Chunk, Document
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.records import Records
from rag_core.ingestion.results import Outcome
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, encrypt_pdf, make_pdf


def chunk_pages_of(services: Services, document_id: int) -> list[tuple[int | None, str]]:
    with services.db.session() as session:
        rows = session.execute(
            sa.select(Chunk.page_start, Chunk.text)
            .where(Chunk.document_id == document_id)
            .order_by(Chunk.chunk_index)
        ).all()
    return [(row.page_start, row.text) for row in rows]


def test_pdf_is_ingested_with_correct_page_numbers(services: Services, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    result = services.ingestor.ingest_file(pdf)
    assert result.outcome == Outcome.INGESTED, result.message
    assert result.document_id is not None
    pages = chunk_pages_of(services, result.document_id)
    assert {page for page, _ in pages} == {1, 2, 3, 4}
    by_page = {page: text for page, text in pages}
    assert "ninety (90) days" in by_page[2]
    assert "12,500 euros" in by_page[3]
    with services.db.session() as session:
        doc = session.get(Document, result.document_id)
        assert doc is not None
        assert (doc.status, doc.page_count, doc.is_active, doc.version) == ("ready", 4, True, 1)
        assert len(doc.content_hash) == 64


def test_reingesting_an_unchanged_file_is_a_no_op(services: Services, tmp_path: Path) -> None:
    note = tmp_path / "clinic.txt"
    note.write_text(CLINIC_TEXT)
    first = services.ingestor.ingest_file(note)
    second = services.ingestor.ingest_file(note)
    assert first.outcome == Outcome.INGESTED
    assert second.outcome == Outcome.UNCHANGED
    with services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count(Document.id))) == 1
        assert session.scalar(sa.select(sa.func.count(Chunk.id))) == first.chunks


def test_changed_file_becomes_a_new_version(services: Services, tmp_path: Path) -> None:
    note = tmp_path / "policy.txt"
    note.write_text("Visiting hours are from 9 to 11 in the morning.")
    first = services.ingestor.ingest_file(note)
    note.write_text("Visiting hours are from 14 to 18 in the afternoon.")
    second = services.ingestor.ingest_file(note)
    assert second.outcome == Outcome.INGESTED
    with services.db.session() as session:
        versions = session.execute(
            sa.select(Document.id, Document.version, Document.is_active).order_by(Document.version)
        ).all()
        assert [(v.version, v.is_active) for v in versions] == [(1, False), (2, True)]
        texts = session.scalars(sa.select(Chunk.text)).all()
    assert texts == ["Visiting hours are from 14 to 18 in the afternoon."]
    assert first.document_id != second.document_id


def test_bad_files_fail_with_a_reason_and_the_run_goes_on(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    make_pdf(folder / "a_good.pdf", CONTRACT_PAGES[:1])
    (folder / "b_empty.pdf").write_bytes(b"")
    (folder / "c_random.pdf").write_bytes(bytes(range(256)) * 40)
    encrypt_pdf(make_pdf(tmp_path / "plain.pdf", ["x"]), folder / "d_locked.pdf")
    (folder / "e_notes.txt").write_text(CLINIC_TEXT)
    (folder / "f_sheet.numbers").write_bytes(b"PK")  # folders yield supported files only
    results = list(services.ingestor.ingest_paths([folder, folder / "f_sheet.numbers"]))
    outcome = {r.path.name: (r.outcome.value, r.message) for r in results}
    assert outcome["a_good.pdf"][0] == "ingested"
    assert outcome["b_empty.pdf"] == ("failed", "empty file")
    assert outcome["c_random.pdf"] == ("failed", "damaged or unreadable PDF")
    assert outcome["d_locked.pdf"] == ("failed", "encrypted PDF (a password is needed)")
    assert outcome["e_notes.txt"][0] == "ingested"
    assert outcome["f_sheet.numbers"][0] == "failed"
    assert "unsupported file type" in outcome["f_sheet.numbers"][1]

    counts = services.catalog.status_counts()
    assert (counts.ready, counts.failed, counts.processing) == (2, 4, 0)
    failed = {d.title: d.error for d in services.catalog.documents() if d.status == "failed"}
    assert failed["d_locked.pdf"] == "encrypted PDF (a password is needed)"


def test_failed_file_is_retried_once_fixed(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "later.txt"
    path.write_text("")
    assert services.ingestor.ingest_file(path).outcome == Outcome.FAILED
    assert services.ingestor.ingest_file(path, retry_failed=False).outcome == Outcome.UNCHANGED
    path.write_text("Now there is text about the fire exit on floor three.")
    assert services.ingestor.ingest_file(path, retry_failed=False).outcome == Outcome.INGESTED
    counts = services.catalog.status_counts()
    assert (counts.ready, counts.failed) == (1, 0)


def test_same_content_under_a_second_name_is_stored_once(
    services: Services, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text(CLINIC_TEXT)
    (tmp_path / "copy of a.txt").write_text(CLINIC_TEXT)
    first = services.ingestor.ingest_file(tmp_path / "a.txt")
    result = services.ingestor.ingest_file(tmp_path / "copy of a.txt")
    assert result.outcome == Outcome.LINKED
    assert "nothing re-embedded" in result.message
    assert result.document_id == first.document_id
    with services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count(Document.id))) == 1
        assert session.scalar(sa.select(sa.func.count(Chunk.id))) == first.chunks
    listed = sorted(Path(d.source).name for d in services.catalog.documents())
    assert listed == ["a.txt", "copy of a.txt"]


class ChangesAfterReading(Ingestor):
    """Rewrites b.pdf right after the reader has read it ahead of its turn, while a.pdf
    is being embedded (which waits for that, so b.pdf's turn sees the new file)."""

    changed = threading.Event()

    def _read(self, path: Path) -> Any:
        read = super()._read(path)
        if path.name == "b.pdf":
            make_pdf(path, ["The new wording of the second report."])
            self.changed.set()
        return read

    def _embed(self, title: str, chunks: Any, progress: Any) -> Any:
        if title == "a.pdf":
            assert self.changed.wait(30)
        return super()._embed(title, chunks, progress)


def test_a_file_changed_after_it_was_read_ahead_is_stored_as_it_is_now(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "two"
    make_pdf(folder / "a.pdf", ["The first report."])
    make_pdf(folder / "b.pdf", ["The old wording of the second report."])
    ingestor = ChangesAfterReading(services.db, services.embedder, services.ingestor.options)
    first, second = ingestor.ingest_paths([folder])
    assert first.outcome == second.outcome == Outcome.INGESTED
    assert second.document_id is not None
    assert chunk_pages_of(services, second.document_id) == [
        (1, "The new wording of the second report.")
    ]


class SlowToStore(Records):
    """Takes a second to store each file, so the next file is claimed meanwhile."""

    def commit(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(1)
        super().commit(*args, **kwargs)


def test_each_file_is_stored_by_the_time_its_result_comes_out(
    services: Services, tmp_path: Path
) -> None:
    """`ingest_paths` stores a file while it embeds the next: the results still come in
    file order, each once its file is searchable; a copy of a file still being stored
    is linked to it, not reported busy."""
    folder = tmp_path / "run"
    for name in ("a", "b", "c"):
        make_pdf(folder / f"{name}.pdf", [f"Report {name}: the pumps on floor {name} failed."])
    (folder / "c copy.pdf").write_bytes((folder / "c.pdf").read_bytes())
    ingestor = Ingestor(services.db, services.embedder, services.ingestor.options)
    ingestor.records = SlowToStore(services.db, services.ingestor.options)
    outcomes = []
    for result in ingestor.ingest_paths([folder]):
        outcomes.append((result.path.name, result.outcome.value))
        assert result.document_id is not None
        with services.db.session() as session:
            document = session.get(Document, result.document_id)
            assert document is not None
            assert (document.status, document.is_active) == ("ready", True)
        assert chunk_pages_of(services, result.document_id)
    assert outcomes == [
        ("a.pdf", "ingested"),
        ("b.pdf", "ingested"),
        ("c copy.pdf", "ingested"),
        ("c.pdf", "linked"),
    ]


def test_a_file_rewritten_while_it_is_read_is_read_as_it_was_hashed(
    services: Services, tmp_path: Path
) -> None:
    """The race a busy machine exposed: `cp other.pdf url.pdf` rewrote a valid PDF in
    place while the watcher read it; the half-written file failed, the failure was kept
    for the whole file's content, and once renamed the valid file stayed out of search
    as "unchanged since it failed".  Here the rewrite happens the moment the file is
    read: what is read must be what was hashed."""
    drop = tmp_path / "drop"
    original = make_pdf(drop / "url.pdf", CONTRACT_PAGES)
    whole = original.read_bytes()
    extractor = services.ingestor.reader.extractor
    read = extractor.extract

    def rewritten_as_it_is_read(path: Path, progress: Any = None) -> Any:
        original.write_bytes(whole[: len(whole) // 3])  # a writer is one third through
        return read(path, progress)

    extractor.extract = rewritten_as_it_is_read  # type: ignore[method-assign]
    try:
        first = services.ingestor.ingest_file(original)
    finally:
        extractor.extract = read  # type: ignore[method-assign]
    assert first.outcome == Outcome.INGESTED, first.line()

    original.write_bytes(whole)  # the writer finishes; then the file is renamed
    renamed = original.rename(drop / "renamed.pdf")
    services.ingestor.retire(original)
    again = services.ingestor.ingest_file(renamed, retry_failed=False)
    assert again.outcome in {Outcome.LINKED, Outcome.UNCHANGED}, again.line()
    hits = services.retriever.search("What is the notice period for termination?", top_k=3)
    assert hits and hits[0].source == str(renamed)
    assert not list((services.settings.data_dir / "reading").iterdir())  # copies removed
