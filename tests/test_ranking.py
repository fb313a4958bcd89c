"""Ranking after retrieval: near-copies kept from crowding the top, passages embedded
with their document's title and section."""

from pathlib import Path

from rag_core.search.diversity import diversify
from rag_core.search.embedding import passage_in_context
from rag_core.search.hits import Hit
from rag_core.search.retrieval import RetrievalParams, Retriever
from rag_core.services import Services


def hit(number: int, text: str) -> Hit:
    return Hit(number, number, f"doc{number}", f"/drop/doc{number}", 1, 1, 0, text, 0.5, 0.1, False)


BOILERPLATE = "Revenue grew because subscriptions for the creative cloud rose in every region"


def test_a_third_near_copy_moves_behind_other_passages() -> None:
    hits = [
        hit(1, BOILERPLATE + " in 2015"),
        hit(2, BOILERPLATE + " in 2016"),
        hit(3, BOILERPLATE + " in 2017"),  # a third copy: moves down
        hit(4, "Capital expenditure was 185 million dollars"),
        hit(5, BOILERPLATE + " in 2018"),  # and so does a fourth
        hit(6, "Cash and cash equivalents at the end of the year"),
    ]
    assert [h.chunk_id for h in diversify(hits)] == [1, 2, 4, 6, 3, 5]
    assert [h.chunk_id for h in diversify(hits, allowed=1)] == [1, 4, 6, 2, 3, 5]
    assert diversify(hits[3:]) == hits[3:]  # nothing alike: the order stands


def test_search_keeps_near_copies_of_documents_out_of_the_top(
    services: Services, tmp_path: Path
) -> None:
    for year in (2015, 2016, 2017, 2018):
        (tmp_path / f"report-{year}.txt").write_text(
            f"{BOILERPLATE} during fiscal {year}, the annual report says."
        )
    (tmp_path / "capex.txt").write_text("Creative cloud subscriptions: capital expenditure.")
    list(services.ingestor.ingest_paths(sorted(tmp_path.glob("*.txt"))))
    question = "Why did creative cloud subscription revenue grow?"
    plain = Retriever(services.db, services.embedder, RetrievalParams(near_copies_allowed=0))
    assert "capex.txt" not in [h.title for h in plain.search(question, top_k=3)]
    diverse = [h.title for h in services.retriever.search(question, top_k=3)]
    assert diverse[2] == "capex.txt" and len(set(diverse[:2])) == 2


def test_passages_are_embedded_under_their_title_and_section() -> None:
    assert passage_in_context("acme_msa-2026.pdf", "Termination > Notice", "Ninety days.") == (
        "acme msa 2026 pdf | Termination > Notice\nNinety days."
    )
    assert passage_in_context("notes.txt", "", "Text.") == "notes txt\nText."
    assert passage_in_context("", "", "Text.") == "Text."
    long = passage_in_context("t", "Section " * 100, "Body.")
    assert long.endswith("\nBody.") and len(long.split("\n")[0]) == 160
