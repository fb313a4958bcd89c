"""Question -> ranked passages.

Vector search (HNSW, cosine) and PostgreSQL full-text search run as two CTEs of one
statement and are fused by reciprocal rank fusion.  Filters apply inside both CTEs;
pgvector's iterative index scan keeps filtered vector search from coming back short.
Each hit carries its cosine similarity, which the relevance floor is judged on: fused
RRF scores are ranks, not a measure of how related a passage is.  A question about a
financial statement moves that statement's pages up (`statements`); near-copies of
passages ranked above them move down (`diversity`).

When the asker's words are not the documents' ("sideways" for "landscape"), the first
search is weak: its best passage is far from the question.  With an answer model the
retriever then asks it for the documents' own words (`expand`, a short answer in their
terms) and searches once more for the question and those words together; the first
search's best passage keeps first place.  The words move passages, never the bar: each
hit's similarity, and whether it matches every question word, are still the
question's own, so relevance and abstention are judged as before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector

from rag_core.db import Database
from rag_core.db.models import EMBEDDING_DIM
from rag_core.db.textsearch import DEFAULT_CONFIG
from rag_core.db.vectorindex import DEFAULT_INDEX, HnswIndex
from rag_core.errors import ConfigurationError
from rag_core.figures.metrics import asked_statements, asked_years
from rag_core.modelfiles.catalog import EMBEDDING_MODELS, MINILM
from rag_core.search.diversity import diversify
from rag_core.search.embedding import Embedder
from rag_core.search.hits import Filters, Hit
from rag_core.search.reranking import Reranker
from rag_core.search.statements import prefer_statements
from rag_core.search.textsearch import EMPTY_CTE as EMPTY_TEXT_CTE
from rag_core.search.textsearch import TextRanking, text_cte

log = logging.getLogger(__name__)


# (question, titles of the documents the first search found) -> the words the documents
# would use for it, or None: searched for beside a weak question (`Retriever.expand`).
Expand = Callable[[str, Sequence[str]], "str | None"]


class Mode(StrEnum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    FULLTEXT = "fulltext"


@dataclass(frozen=True)
class RetrievalParams:
    candidates: int = 40
    rrf_k: int = 60
    ef_search: int = 300
    vector_weight: float = 1.0
    text_weight: float = 1.0
    full_text_words: int = 6  # question words (lexemes) beyond which text counts less; 0: never
    query_cache_size: int = 1024
    text_search_config: str = DEFAULT_CONFIG  # the language the stored column uses
    title_weight: float = 1.0  # a title word counts this many times a body word (ts_rank)
    text_ranking: TextRanking = TextRanking.BM25
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_common: float = 0.05  # lexemes in more passages than this share find no candidates
    near_copies_allowed: int = 2  # near-identical passages ranked above a further copy (0: any)
    rerank_candidates: int = 20  # fused passages the cross-encoder re-orders, if any
    statement_weight: float = 1.0  # an asked statement's page: one more first place (0: off)
    # A first search whose best passage is less similar than this is weak: the answer
    # model's words for the question are searched for beside it (with `expand`).
    # None: the bar of the embedding model in use (`EmbeddingModel.weak_similarity`).
    weak_similarity: float | None = None
    index: HnswIndex = DEFAULT_INDEX  # the index the database was opened with


_VECTOR_CTE = """
vector_hits AS (
    SELECT c.id, row_number() OVER (ORDER BY {distance}) AS rank
    FROM chunks c JOIN documents d ON d.id = c.document_id
    WHERE d.is_active AND d.status = 'ready' {filters}
    ORDER BY {distance}
    LIMIT :candidates
)"""

_EMPTY_VECTOR = "vector_hits AS (SELECT NULL::bigint AS id, NULL::bigint AS rank WHERE false)"

_FUSED = """
SELECT c.id AS chunk_id, d.id AS document_id, d.title, d.source_path, c.page_start,
       c.page_end, c.chunk_index, c.text, c.section,
       1 - (c.embedding <=> :svec) AS similarity,
       1 - (c.embedding <=> :qvec) AS searched_similarity,
       f.fused_score, m.text_match
FROM (
    SELECT COALESCE(v.id, t.id) AS id,
           COALESCE(:vector_weight / (:rrf_k + v.rank), 0)
               + COALESCE(:text_weight / (:rrf_k + t.rank), 0) * q.text_share AS fused_score
    FROM vector_hits v FULL OUTER JOIN text_hits t ON v.id = t.id
    -- A long question matches passages by its framing words too: its word ranking
    -- counts less, in proportion (`full_text_words`).
    CROSS JOIN (
        SELECT least(1.0, CAST(:full_text_words AS float8)
                     / greatest(1, length(to_tsvector(CAST(:ts_config AS regconfig), :qtext))))
    ) AS q(text_share)
) f
JOIN chunks c ON c.id = f.id
CROSS JOIN LATERAL (
    SELECT c.tsv @@ websearch_to_tsquery(CAST(:ts_config AS regconfig), :asked) AS text_match
) m
JOIN documents d ON d.id = c.document_id
ORDER BY f.fused_score DESC, similarity DESC
LIMIT :top_k
"""


class Retriever:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        params: RetrievalParams,
        reranker: Reranker | None = None,
        expand: Expand | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.params = params
        self.reranker = reranker
        self.expand = expand  # the answer model's words for a weak question; None: never
        # Keyed by the embedding model too: the library may move to another one.
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed_query(self, query: str) -> np.ndarray:
        """The question's embedding, from a bounded in-process cache (least recently
        used out): staff ask the same questions again, and each embedding costs ~10 ms."""
        embedder = self.embedder.current()
        key = (embedder.space, query)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        vector = embedder.embed_one(query)
        if self.params.query_cache_size:
            with self._cache_lock:
                self._cache[key] = vector
                while len(self._cache) > self.params.query_cache_size:
                    self._cache.popitem(last=False)
        return vector

    def search(
        self,
        query: str,
        *,
        top_k: int,
        filters: Filters = Filters(),
        mode: Mode = Mode.HYBRID,
        rerank: bool | None = None,
        expand: bool = True,
    ) -> list[Hit]:
        return self.search_vector(
            query,
            self.embed_query(query),
            top_k=top_k,
            filters=filters,
            mode=mode,
            rerank=rerank,
            expand=expand,
        )

    def search_vector(
        self,
        query: str,
        query_vector: np.ndarray,
        *,
        top_k: int,
        filters: Filters = Filters(),
        mode: Mode = Mode.HYBRID,
        rerank: bool | None = None,
        expand: bool = True,
    ) -> list[Hit]:
        """Top passages for a question whose embedding the caller already has,
        re-ranked by the cross-encoder if there is one (`rerank`: None) or if asked;
        a weak first search is searched again with the answer model's words for the
        question (`expand`, when the retriever has a model)."""
        if rerank is None:
            rerank = self.reranker is not None
        if rerank:
            if self.reranker is None:
                raise ConfigurationError(
                    "Re-ranking was asked for, but RAG_RERANKER_MODEL_PATH is not set."
                )
            wide = max(top_k, self.params.rerank_candidates)
            hits = self.search_vector(
                query,
                query_vector,
                top_k=wide,
                filters=filters,
                mode=mode,
                rerank=False,
                expand=expand,
            )
            return self.reranker.rerank(query, hits, top_k)
        asked = _Asked(query, query_vector)
        hits = self._ranked(asked, asked, top_k, filters, mode)
        if not (expand and self.expand is not None and self.weak(hits)):
            return hits
        titles = list(dict.fromkeys(hit.title for hit in hits[:_TITLES_SHOWN]))
        words = self.expand(query, titles)
        if not words:
            return hits
        wider = f"{query} {words}"
        found = self._ranked(_Asked(wider, self.embed_query(wider)), asked, top_k, filters, mode)
        # The question's own first passage keeps first place; the model's words add the
        # rest (on the R manuals' own questions, letting them displace it lost one).
        first = hits[0]
        ranked = [first, *(hit for hit in found if hit.chunk_id != first.chunk_id)][:top_k]
        return [replace(hit, found_with=words) for hit in ranked]

    def weak(self, hits: Sequence[Hit]) -> bool:
        """True when the passage ranked first is far from the question: the documents
        may say it in other words.  (The first, not the closest of all: on the R
        manuals' paraphrases, a closer passage ranked lower was seldom the answer.)"""
        return not hits or hits[0].score < self.weak_similarity()

    def weak_similarity(self) -> float:
        if self.params.weak_similarity is not None:
            return self.params.weak_similarity
        return EMBEDDING_MODELS.get(self.embedder.current().space, MINILM).weak_similarity

    def _ranked(
        self, ranking: _Asked, asked: _Asked, top_k: int, filters: Filters, mode: Mode
    ) -> list[Hit]:
        """Passages ranked by `ranking`'s text and vector; each hit's similarity, its
        text match and the statement it asks for are judged on `asked`, the question."""
        where, params = _filter_sql(filters)
        distance = self.params.index.distance_sql("c.embedding", ":qvec")
        vector_cte = (
            _VECTOR_CTE.format(filters=where, distance=distance)
            if mode != Mode.FULLTEXT
            else _EMPTY_VECTOR
        )
        text_hits = (
            text_cte(self.params.text_ranking, where) if mode != Mode.VECTOR else EMPTY_TEXT_CTE
        )
        wanted = asked_statements(asked.text) if self.params.statement_weight else frozenset()
        # Room for near-copies to move down (`diversity`) without leaving gaps, and for
        # an asked statement's page to move up from among the candidates.
        limit = 2 * top_k if self.params.near_copies_allowed else top_k
        if wanted:
            limit = max(limit, self.params.candidates)
        statement = sa.text(f"WITH {vector_cte},\n{text_hits}\n{_FUSED}").bindparams(
            *(sa.bindparam(name, type_=Vector(EMBEDDING_DIM)) for name in ("qvec", "svec"))
        )
        params |= {
            "qvec": ranking.vector,
            "svec": asked.vector,
            "qtext": ranking.text,
            "asked": asked.text,
            "ts_config": self.params.text_search_config,
            "body_weight": 1.0 / self.params.title_weight,
            "bm25_k1": self.params.bm25_k1,
            "bm25_b": self.params.bm25_b,
            "bm25_pool": max(5 * self.params.candidates, 200),
            "bm25_common": self.params.bm25_common,
            "candidates": max(self.params.candidates, top_k),
            "rrf_k": self.params.rrf_k,
            "vector_weight": self.params.vector_weight,
            "text_weight": self.params.text_weight,
            "full_text_words": self.params.full_text_words or 1_000_000,
            "top_k": limit,
        }
        with self.db.session() as session:
            # Per transaction only: the pooled connection keeps no state of this call.
            session.execute(
                sa.text(
                    "SELECT set_config('hnsw.ef_search', :ef, true),"
                    " set_config('hnsw.iterative_scan', 'relaxed_order', true)"
                ),
                {"ef": str(max(self.params.ef_search, top_k))},
            )
            rows = session.execute(statement, params).all()
        hits = [
            Hit(
                chunk_id=row.chunk_id,
                document_id=row.document_id,
                title=row.title,
                source=row.source_path,
                page=row.page_start,
                page_end=row.page_end,
                chunk_index=row.chunk_index,
                text=row.text,
                score=float(row.similarity),
                fused_score=float(row.fused_score),
                text_match=bool(row.text_match),
                section=row.section,
                searched_similarity=float(row.searched_similarity),
            )
            for row in rows
        ]
        if wanted:
            bonus = self.params.statement_weight / (self.params.rrf_k + 1)
            hits = prefer_statements(self.db, hits, wanted, bonus, asked_years(asked.text))
        if self.params.near_copies_allowed:
            hits = diversify(hits, self.params.near_copies_allowed)
        return hits[:top_k]


_TITLES_SHOWN = 5  # passages whose documents' titles tell the model what the library is


@dataclass(frozen=True)
class _Asked:
    text: str
    vector: np.ndarray


def _filter_sql(filters: Filters) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.document_types:
        clauses.append("d.document_type = ANY(:document_types)")
        params["document_types"] = list(filters.document_types)
    if filters.tags:
        clauses.append("d.tags && CAST(:tags AS text[])")
        params["tags"] = list(filters.tags)
    if filters.exclude_document_ids:
        clauses.append("NOT d.id = ANY(:exclude_document_ids)")
        params["exclude_document_ids"] = list(filters.exclude_document_ids)
    if filters.all_tags:
        clauses.append("d.tags @> CAST(:all_tags AS text[])")
        params["all_tags"] = list(filters.all_tags)
    if filters.folder:
        # Any present path of the document counts: one content may sit in two folders.
        clauses.append(
            "EXISTS (SELECT 1 FROM files f WHERE f.document_id = d.id AND f.present"
            " AND starts_with(f.path, :folder))"
        )
        params["folder"] = filters.folder.rstrip("/") + "/"
    if filters.added_from:
        clauses.append("d.created_at >= :added_from")
        params["added_from"] = filters.added_from
    if filters.added_until:
        clauses.append("d.created_at < :added_until")
        params["added_until"] = filters.added_until
    return "".join(f" AND {clause}" for clause in clauses), params
