"""Re-ranking with a cross-encoder.  None ships with the appliance (no package on PyPI
has one), so these tests load the local MiniLM folder as a CrossEncoder: a real model
run whose scoring head is untrained.  They check the mechanism (candidates widened,
order taken from the model, floor score kept), not ranking quality."""

from pathlib import Path

import pytest

from rag_core.errors import ConfigurationError, ModelNotFound
from rag_core.search.reranking import Reranker
from rag_core.search.retrieval import Mode, RetrievalParams, Retriever
from rag_core.services import Services
from tests.conftest import MODELS_DIR
from tests.test_retrieval import ingest_library


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    return Reranker(MODELS_DIR / "all-MiniLM-L6-v2")


def test_reranker_orders_the_widened_candidates_by_its_scores(
    services: Services, reranker: Reranker, tmp_path: Path
) -> None:
    ingest_library(services, tmp_path)
    query = "agreement between the parties"
    params = RetrievalParams(rerank_candidates=5)
    retriever = Retriever(services.db, services.embedder, params, reranker)
    candidates = services.retriever.search(query, top_k=5)
    assert len(candidates) == 5
    expected = sorted(
        zip(reranker.scores(query, [h.text for h in candidates]), candidates, strict=True),
        key=lambda pair: pair[0],
        reverse=True,
    )
    reranked = retriever.search(query, top_k=2)  # re-ranks by default once configured
    assert [h.chunk_id for h in reranked] == [h.chunk_id for _, h in expected[:2]]
    assert [h.fused_score for h in reranked] == pytest.approx([s for s, _ in expected[:2]])
    by_id = {h.chunk_id: h.score for h in candidates}
    assert all(h.score == pytest.approx(by_id[h.chunk_id]) for h in reranked)
    plain = retriever.search(query, top_k=2, rerank=False)
    assert [h.chunk_id for h in plain] == [h.chunk_id for h in candidates[:2]]


def test_reranking_without_a_model_is_a_clear_error(services: Services, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="RAG_RERANKER_MODEL_PATH"):
        services.retriever.search("fees", top_k=2, mode=Mode.HYBRID, rerank=True)
    missing = Retriever(
        services.db, services.embedder, RetrievalParams(), Reranker(tmp_path / "nothing")
    )
    ingest_library(services, tmp_path)
    with pytest.raises(ModelNotFound, match="Re-ranking model not found"):
        missing.search("fees", top_k=2)
