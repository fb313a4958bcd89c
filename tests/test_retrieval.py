from pathlib import Path

from rag_core.retrieval import Filters, Mode
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


def ingest_library(services: Services, tmp_path: Path) -> None:
    make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    (tmp_path / "handbook.txt").write_text(CLINIC_TEXT)
    results = list(
        services.ingestor.ingest_paths(
            [tmp_path / "contract.pdf"], document_type="contracts", tags=["acme", "legal"]
        )
    ) + list(
        services.ingestor.ingest_paths(
            [tmp_path / "handbook.txt"], document_type="clinical", tags=["dosing"]
        )
    )
    assert all(r.outcome == "ingested" for r in results)


def test_search_finds_the_right_page(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    hits = services.retriever.search("How long is the notice period to terminate?", top_k=3)
    assert hits[0].title == "contract.pdf"
    assert hits[0].page == 2
    assert "ninety" in hits[0].text
    assert hits[0].score > 0.4


def test_each_mode_finds_an_exact_term(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    for mode in Mode:
        hits = services.retriever.search("paracetamol maximum dose", top_k=2, mode=mode)
        assert hits, mode
        assert hits[0].title == "handbook.txt", mode
    fulltext = services.retriever.search("paracetamol", top_k=5, mode=Mode.FULLTEXT)
    assert all("paracetamol" in h.text.lower() for h in fulltext)


def test_filters_restrict_by_type_and_tag(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    question = "maximum dose of paracetamol for children"
    only_contracts = services.retriever.search(
        question, top_k=5, filters=Filters(document_types=("contracts",))
    )
    assert only_contracts and all(h.title == "contract.pdf" for h in only_contracts)
    tagged = services.retriever.search(question, top_k=5, filters=Filters(tags=("dosing",)))
    assert tagged and all(h.title == "handbook.txt" for h in tagged)
    nothing = services.retriever.search(question, top_k=5, filters=Filters(tags=("none",)))
    assert nothing == []
    assert services.catalog.document_types() == ["clinical", "contracts"]
    assert services.catalog.tags() == ["acme", "dosing", "legal"]


def test_top_k_limits_the_hits(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    assert len(services.retriever.search("agreement", top_k=2)) == 2
