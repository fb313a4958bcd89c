from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector

from rag_core.db.engine import migrate
from rag_core.db.models import EMBEDDING_DIM
from rag_core.db.vectorindex import INDEX_NAME, HnswIndex, IndexKind
from rag_core.errors import ConfigurationError
from rag_core.search.embedding import Embedder
from rag_core.search.hits import Filters
from rag_core.search.retrieval import Mode, RetrievalParams, Retriever
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf, owner_engine


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


def test_filters_by_all_tags_folder_and_date(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    question = "notice period"

    def titles(filters: Filters) -> set[str]:
        return {h.title for h in services.retriever.search(question, top_k=10, filters=filters)}

    assert titles(Filters(all_tags=("acme", "legal"))) == {"contract.pdf"}
    assert titles(Filters(all_tags=("acme", "dosing"))) == set()
    assert titles(Filters(tags=("acme", "dosing"))) == {"contract.pdf", "handbook.txt"}

    (tmp_path / "ward" / "night").mkdir(parents=True)
    (tmp_path / "ward" / "night" / "rota.txt").write_text("Night notice: rota changes.")
    list(services.ingestor.ingest_paths([tmp_path / "ward"]))
    assert titles(Filters(folder=str(tmp_path / "ward"))) == {"rota.txt"}
    assert titles(Filters(folder=str(tmp_path / "war"))) == set()  # folders, not prefixes
    assert services.catalog.folders(tmp_path) == ["ward", "ward/night"]

    now = datetime.now(UTC)
    assert titles(Filters(added_from=now + timedelta(hours=1))) == set()
    assert len(titles(Filters(added_from=now - timedelta(hours=1), added_until=now))) == 3


def test_top_k_limits_the_hits(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    assert len(services.retriever.search("agreement", top_k=2)) == 2


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    space = "counting"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.calls: list[str] = []

    def current(self) -> "CountingEmbedder":
        return self

    def embed_one(self, text: str) -> np.ndarray:
        self.calls.append(text)
        return self.embedder.embed_one(text)


def test_question_embeddings_are_cached_and_bounded(services: Services) -> None:
    counting = CountingEmbedder(services.embedder)
    params = RetrievalParams(query_cache_size=2)
    retriever = Retriever(services.db, counting, params)  # type: ignore[arg-type]
    first = retriever.embed_query("notice period")
    again = retriever.embed_query("notice period")
    assert counting.calls == ["notice period"]
    assert np.array_equal(first, again)
    assert np.allclose(first, services.embedder.embed_one("notice period"))
    retriever.embed_query("fees")
    retriever.embed_query("confidentiality")  # the cache holds two: "notice period" goes
    retriever.embed_query("notice period")
    assert counting.calls == ["notice period", "fees", "confidentiality", "notice period"]


def test_fusion_weights_decide_which_ranking_leads(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    query = "Globex consulting fee"
    by_text = Retriever(services.db, services.embedder, RetrievalParams(vector_weight=0.0))
    by_vector = Retriever(services.db, services.embedder, RetrievalParams(text_weight=0.0))
    text_only = [h.chunk_id for h in services.retriever.search(query, top_k=3, mode=Mode.FULLTEXT)]
    vector_only = [h.chunk_id for h in services.retriever.search(query, top_k=3, mode=Mode.VECTOR)]
    assert text_only and text_only != vector_only[: len(text_only)]
    assert [h.chunk_id for h in by_text.search(query, top_k=3)][: len(text_only)] == text_only
    assert [h.chunk_id for h in by_vector.search(query, top_k=3)] == vector_only


def fulltext_titles(retriever: Retriever, query: str) -> list[str]:
    return [h.title for h in retriever.search(query, top_k=5, mode=Mode.FULLTEXT)]


def test_title_words_rank_above_body_words(services: Services, tmp_path: Path) -> None:
    (tmp_path / "warfarin_guidelines.txt").write_text(
        "Check the INR every week during the first month and adjust the dose."
    )
    (tmp_path / "ward-notes.txt").write_text(
        "Bed 4 was moved. A patient on warfarin asked about diet. The lift is broken."
    )
    list(services.ingestor.ingest_paths(sorted(tmp_path.glob("*.txt"))))
    titles = fulltext_titles(services.retriever, "warfarin")
    assert titles == ["warfarin_guidelines.txt", "ward-notes.txt"]
    # Renaming a file renames its document, and search follows the new title.
    renamed = tmp_path / "anticoagulation.txt"
    (tmp_path / "warfarin_guidelines.txt").rename(renamed)
    list(services.ingestor.ingest_paths([renamed]))
    assert fulltext_titles(services.retriever, "anticoagulation") == ["anticoagulation.txt"]
    assert fulltext_titles(services.retriever, "warfarin") == ["ward-notes.txt"]


def test_text_search_language_is_a_setting(services: Services, tmp_path: Path) -> None:
    (tmp_path / "pumps.txt").write_text("The infusion pumps were running all night.")
    list(services.ingestor.ingest_paths([tmp_path / "pumps.txt"]))
    assert fulltext_titles(services.retriever, "runs") == ["pumps.txt"]  # english stems

    migrate(owner_engine(services), "simple")  # what a restart with the new setting does
    simple = Retriever(services.db, services.embedder, RetrievalParams(text_search_config="simple"))
    assert fulltext_titles(simple, "runs") == []
    assert fulltext_titles(simple, "running") == ["pumps.txt"]

    with pytest.raises(ConfigurationError, match="english"):
        migrate(owner_engine(services), "klingon")


def vector_index_definition(services: Services) -> str:
    with services.db.session() as session:
        return str(
            session.scalar(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": INDEX_NAME},
            )
        )


def vector_plan(retriever: Retriever) -> str:
    """The plan of the retriever's own vector query, with sequential scans priced out:
    on a small table the planner would rather scan, which says nothing about whether
    the index can answer the query."""
    distance = retriever.params.index.distance_sql("c.embedding", ":qvec")
    statement = sa.text(
        f"EXPLAIN SELECT c.id FROM chunks c ORDER BY {distance} LIMIT 5"
    ).bindparams(sa.bindparam("qvec", type_=Vector(EMBEDDING_DIM)))
    with retriever.db.session() as session:
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rows = session.execute(statement, {"qvec": np.ones(EMBEDDING_DIM)}).scalars().all()
    return "\n".join(rows)


def test_vector_search_uses_the_half_precision_index_by_default(
    services: Services, tmp_path: Path
) -> None:
    ingest_library(services, tmp_path)
    assert "halfvec_cosine_ops" in vector_index_definition(services)
    assert INDEX_NAME in vector_plan(services.retriever)
    hits = services.retriever.search("notice period for termination", top_k=1, mode=Mode.VECTOR)
    assert (hits[0].title, hits[0].page) == ("contract.pdf", 2)


def test_changing_the_vector_index_rebuilds_it_once(services: Services, tmp_path: Path) -> None:
    ingest_library(services, tmp_path)
    full = HnswIndex(IndexKind.VECTOR, m=12, ef_construction=40)
    migrate(owner_engine(services), vector_index=full)  # what a restart with the setting does
    definition = vector_index_definition(services)
    assert "vector_cosine_ops" in definition and "m='12'" in definition
    retriever = Retriever(services.db, services.embedder, RetrievalParams(index=full))
    assert INDEX_NAME in vector_plan(retriever)
    hits = retriever.search("notice period for termination", top_k=1, mode=Mode.VECTOR)
    assert (hits[0].title, hits[0].page) == ("contract.pdf", 2)

    with services.db.session() as session:
        oid = session.scalar(sa.text("SELECT to_regclass(:name)::oid"), {"name": INDEX_NAME})
    migrate(owner_engine(services), vector_index=full)  # unchanged: kept as it is
    with owner_engine(services).begin() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass(:name)::oid"), {"name": INDEX_NAME}) == oid
        conn.execute(sa.text(f"DROP INDEX {INDEX_NAME}"))  # the app's role may not
    migrate(owner_engine(services), vector_index=full)  # missing: built again
    assert "vector_cosine_ops" in vector_index_definition(services)
