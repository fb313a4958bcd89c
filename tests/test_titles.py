"""A document is called by the title the file carries when it is one a person would
take for a title; by its file name otherwise; by its sidecar's title above both.  The
file name stays with the passages, so a search by either finds them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.db import Chunk, Document
from rag_core.extract import extract
from rag_core.extract.common import usable_title
from rag_core.ingestion.results import Outcome
from rag_core.search.retrieval import Mode
from rag_core.services import Services
from tests.helpers import CONTRACT_PAGES, make_pdf
from tests.office_files import make_docx, make_eml, make_pptx


@pytest.mark.parametrize(
    ("carried", "kept"),
    [
        ("Master services agreement", "Master services agreement"),
        ("  ADBE 10K   FY15 ", "ADBE 10K FY15"),
        (
            "Form 8-K for Foot Locker INC filed 05/19/2022",
            "Form 8-K for Foot Locker INC filed 05/19/2022",
        ),
        ("MSA", "MSA"),
        ("RE: invoice 1041", "RE: invoice 1041"),
        # What real files carry when nobody titled them: the file's name says more.
        ("0001018724-20-000004", ""),  # a filing's accession number (most SEC filings)
        ("Document", ""),
        ("Untitled1", ""),
        ("untitled document", ""),
        ("PowerPoint Presentation", ""),
        ("Microsoft Word - draft3.docx", ""),
        ("Microsoft Word - Lease agreement", ""),
        ("scan_0042.pdf", ""),
        ("Scan 12", ""),
        ("12/05/2023", ""),
        ("", ""),
        ("A" * 300, ""),
    ],
)
def test_only_a_title_a_person_would_take_for_one_is_kept(carried: str, kept: str) -> None:
    assert usable_title(carried) == kept


def test_each_format_gives_the_title_it_carries(tmp_path: Path) -> None:
    assert extract(make_docx(tmp_path / "a.docx")).title == "Ward 4 infection control policy"
    assert extract(make_eml(tmp_path / "b.eml")).title == "Insulin order for ward 4"
    # No title in the deck's properties: its first slide's.
    assert extract(make_pptx(tmp_path / "c.pptx")).title == "Quarterly budget"
    assert extract(make_pdf(tmp_path / "d.pdf", ["Text."], title="Document")).title == ""


def _chunk_headings(services: Services, document_id: int) -> set[str]:
    with services.db.session() as session:
        return set(
            session.scalars(sa.select(Chunk.heading).where(Chunk.document_id == document_id))
        )


def test_the_file_title_names_the_document_and_the_file_name_still_finds_it(
    services: Services, tmp_path: Path
) -> None:
    titled = make_pdf(tmp_path / "scan_0042.pdf", CONTRACT_PAGES, title="Acme cleaning contract")
    untitled = make_pdf(tmp_path / "0001018724-20-000004.pdf", ["Lunch is at noon."])
    with_number = make_pdf(
        tmp_path / "canteen rules.pdf", ["Lunch is served at noon."], title="0001018724-20-000004"
    )
    results = list(services.ingestor.ingest_paths([titled, untitled, with_number]))
    assert [r.outcome for r in results] == [Outcome.INGESTED] * 3, [r.line() for r in results]
    with services.db.session() as session:
        titles = [session.get(Document, r.document_id).title for r in results]  # type: ignore[union-attr]
    assert titles == ["Acme cleaning contract", "0001018724-20-000004.pdf", "canteen rules.pdf"]
    # Found by its title and by its file's name, in words, by the text search as well.
    assert _chunk_headings(services, results[0].document_id) == {  # type: ignore[arg-type]
        "Acme cleaning contract scan 0042 pdf"
    }
    for query in ("Acme cleaning contract", "scan 0042"):
        hits = services.retriever.search(query, top_k=1, mode=Mode.FULLTEXT)
        assert hits and hits[0].title == "Acme cleaning contract", query


def test_the_sidecar_title_wins_and_a_renamed_file_keeps_its_own(
    services: Services, tmp_path: Path
) -> None:
    path = make_pdf(tmp_path / "scan_0042.pdf", CONTRACT_PAGES, title="Acme cleaning contract")
    [first] = list(services.ingestor.ingest_paths([path]))
    assert first.document_id is not None
    renamed = path.with_name("acme.pdf")
    shutil.move(path, renamed)
    list(services.ingestor.ingest_paths([renamed]))
    with services.db.session() as session:
        assert session.get(Document, first.document_id).title == "Acme cleaning contract"  # type: ignore[union-attr]
    assert _chunk_headings(services, first.document_id) == {"Acme cleaning contract acme pdf"}

    renamed.with_name("acme.pdf.meta.json").write_text(json.dumps({"title": "Cleaning, 2026"}))
    list(services.ingestor.ingest_paths([renamed]))
    with services.db.session() as session:
        assert session.get(Document, first.document_id).title == "Cleaning, 2026"  # type: ignore[union-attr]
