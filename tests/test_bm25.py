"""BM25 in PostgreSQL: scores on a tiny corpus checked by hand, term statistics kept
current through ingest, retire, rename, re-index and a change of language, and
code-like terms found whole."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from rag_core.db import Chunk, Database, Document, DocumentStatus, open_database
from rag_core.db.engine import migrate
from rag_core.search.retrieval import Mode, RetrievalParams, Retriever
from rag_core.search.textsearch import TextRanking, text_cte
from rag_core.services import Services
from tests.helpers import owner_engine


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, tmp_path, "unused")
    yield database
    database.dispose()


def add_document(db: Database, name: str, texts: list[str], active: bool = True) -> int:
    with db.session() as session:
        document = Document(
            title=name,
            source_path=f"/library/{name}",
            content_hash=name,
            status=DocumentStatus.READY,
            is_active=active,
        )
        session.add(document)
        session.flush()
        session.execute(
            sa.insert(Chunk),
            [
                {
                    "document_id": document.id,
                    "chunk_index": index,
                    "text": text,
                    "heading": "",
                    "token_count": len(text.split()),
                    "embedding": np.ones(384, np.float32),
                }
                for index, text in enumerate(texts)
            ],
        )
        return document.id


def bm25(db: Database, question: str) -> dict[str, float]:
    """Title of each passage's document -> its BM25 score (k1 1.2, b 0.75)."""
    statement = sa.text(
        f"WITH {text_cte(TextRanking.BM25, '')}"
        " SELECT d.title, t.score FROM text_hits t"
        " JOIN chunks c ON c.id = t.id JOIN documents d ON d.id = c.document_id"
    )
    params = {
        "ts_config": "english",
        "qtext": question,
        "bm25_k1": 1.2,
        "bm25_b": 0.75,
        "candidates": 10,
        "bm25_pool": 200,
        "bm25_common": 0.1,
    }
    with db.session() as session:
        return {row.title: row.score for row in session.execute(statement, params)}


def statistics(db: Database) -> tuple[dict[str, int], tuple[int, int]]:
    with db.session() as session:
        terms = dict(
            session.execute(
                sa.text("SELECT lexeme, passages FROM term_stats WHERE passages <> 0")
            ).all()
        )
        passages = session.execute(sa.text("SELECT passages, lexemes FROM passage_stats")).one()
    return terms, (passages[0], passages[1])  # type: ignore[return-value]


def recount(db: Database) -> tuple[dict[str, int], tuple[int, int]]:
    """The statistics counted from scratch: what the triggers must keep."""
    with db.session() as session:
        terms = dict(
            session.execute(
                sa.text(
                    "SELECT u.lexeme, count(*) FROM chunks c"
                    " JOIN documents d ON d.id = c.document_id"
                    " CROSS JOIN LATERAL unnest(c.tsv) u WHERE d.is_active GROUP BY u.lexeme"
                )
            ).all()
        )
        passages = session.execute(
            sa.text(
                "SELECT count(*), coalesce(sum(length(c.tsv)), 0) FROM chunks c"
                " JOIN documents d ON d.id = c.document_id WHERE d.is_active"
            )
        ).one()
    return terms, (passages[0], passages[1])  # type: ignore[return-value]


def test_bm25_scores_match_the_formula_worked_by_hand(db: Database) -> None:
    add_document(db, "one", ["apple banana"])  # lexemes appl, banana: length 2
    add_document(db, "two", ["apple cherry date"])  # appl, cherri, date: length 3
    add_document(db, "three", ["elderberry fig grape"])  # length 3
    # N = 3 passages, average length 8/3; idf = ln(1 + (N - df + 0.5) / (df + 0.5)):
    # banana (df 1) 0.980829, appl (df 2) 0.470004.  Per lexeme a passage of length l
    # scores idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * l / (8/3))).
    assert bm25(db, "banana") == pytest.approx({"one": 1.092569}, abs=1e-5)
    # one: appl only, 0.470004 * 2.2 / 1.975; two: appl + cherri at length 3.
    assert bm25(db, "apple cherry") == pytest.approx({"one": 0.523548, "two": 1.380252}, abs=1e-5)
    # Stopwords and words no passage has add nothing; a word twice counts once.
    assert bm25(db, "the banana and the kiwi, banana") == pytest.approx({"one": 1.092569}, abs=1e-5)
    assert bm25(db, "kiwi") == {}
    # A word in most passages still finds them when the question has nothing rarer.
    assert set(bm25(db, "apple")) == {"one", "two"}


def test_statistics_count_only_searchable_passages(db: Database) -> None:
    add_document(db, "one", ["apple banana"])
    hidden = add_document(db, "hidden", ["banana split", "banana bread"], active=False)
    terms, passages = statistics(db)
    assert terms == {"appl": 1, "banana": 1}
    assert passages == (1, 2)

    with db.session() as session:  # the document comes into the library ...
        session.execute(sa.update(Document).where(Document.id == hidden).values(is_active=True))
    assert statistics(db) == recount(db)
    assert statistics(db)[0]["banana"] == 3

    with db.session() as session:  # ... one passage is deleted, one renamed ...
        session.execute(sa.delete(Chunk).where(Chunk.document_id == hidden, Chunk.chunk_index == 0))
        session.execute(
            sa.update(Chunk).where(Chunk.document_id == hidden).values(heading="Baking notes")
        )
    assert statistics(db) == recount(db)
    assert statistics(db)[0]["bake"] == 1

    with db.session() as session:  # ... and the document is deleted with its passages.
        session.execute(sa.delete(Document).where(Document.id == hidden))
    assert statistics(db) == recount(db) == ({"appl": 1, "banana": 1}, (1, 2))


def test_statistics_follow_ingest_retire_rename_and_language(
    services: Services, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "dosing.txt").write_text("Paracetamol: at most 4 g a day for adults.")
    (drop / "leave.txt").write_text("Annual leave is 25 days. Paracetamol is in the kit.")
    list(services.ingestor.ingest_paths([drop]))
    assert statistics(services.db) == recount(services.db)
    assert statistics(services.db)[0]["paracetamol"] == 2

    (drop / "leave.txt").unlink()
    services.ingestor.retire(drop / "leave.txt")
    assert statistics(services.db) == recount(services.db)
    assert statistics(services.db)[0]["paracetamol"] == 1
    assert "annual" not in statistics(services.db)[0]

    # A new version of a file replaces the old one's passages.
    (drop / "dosing.txt").write_text("Ibuprofen: at most 1.2 g a day for adults.")
    list(services.ingestor.ingest_paths([drop / "dosing.txt"]))
    assert statistics(services.db) == recount(services.db)
    assert "paracetamol" not in statistics(services.db)[0]

    (drop / "dosing.txt").rename(drop / "analgesics.txt")  # renamed: new title words
    list(services.ingestor.ingest_paths([drop / "analgesics.txt"]))
    assert statistics(services.db) == recount(services.db)
    assert "analges" in statistics(services.db)[0]

    migrate(owner_engine(services), "simple")  # the language changes: all re-counted
    terms, _ = statistics(services.db)
    assert statistics(services.db) == recount(services.db)
    assert "adults" in terms and "adult" not in terms


def test_code_like_terms_and_figures_are_found_whole(services: Services, tmp_path: Path) -> None:
    (tmp_path / "layout.txt").write_text(
        "Use \\newgeometry to change the margins of one page; \\restoregeometry undoes it."
    )
    (tmp_path / "geometry.txt").write_text(
        "The geometry package sets the page geometry: margins, paper size and layout."
    )
    (tmp_path / "filings.txt").write_text("The company filed its 10-K for fiscal 2022 in March.")
    (tmp_path / "dose.txt").write_text("Give 2.5 mg once daily; never more than 5 mg a day.")
    list(services.ingestor.ingest_paths(sorted(tmp_path.glob("*.txt"))))
    retriever = Retriever(services.db, services.embedder, RetrievalParams())
    for question, title in [
        ("How do I use \\newgeometry?", "layout.txt"),
        ("When was the 10-K filed?", "filings.txt"),
        ("who takes 2.5 mg", "dose.txt"),
    ]:
        hits = retriever.search(question, top_k=3, mode=Mode.FULLTEXT)
        assert hits and hits[0].title == title, question
