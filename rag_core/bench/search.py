"""`search`: the appliance's own search statement (hybrid, full text) at library sizes,
with real text, for each full-text ranking (BM25, ts_rank).

Passages are 500-character pieces of real abstracts (SciFact beside the checkout, else
the committed man pages), repeated until the library has the size asked for, 100
passages a document; the term statistics grow as in a real library because the
database's own triggers count them.  Vectors are synthetic (clustered unit vectors,
as in `retrieve`): embedding 100,000 passages would take this machine half an hour and
say nothing more about the statement's cost.  Questions are the dataset's own queries,
each with a noisy copy of a stored vector.  The library is kept in a side database
(`bench_search_<size>`) and reused.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from rag_core.bench.common import percentile, print_table, sample_chunks
from rag_core.bench.retrieve import drop_vector_indexes, synthetic_vectors
from rag_core.db import Database, Document, DocumentStatus, open_side_database
from rag_core.db.bulk import ChunkRow, copy_chunks
from rag_core.db.models import EMBEDDING_DIM
from rag_core.search.retrieval import Mode, Retriever
from rag_core.search.textsearch import TextRanking
from rag_core.services import build_embedder, build_resources, hnsw_index, retrieval_params
from rag_core.settings import Settings

_PER_DOCUMENT = 100
_BATCH = 10_000


def fill(db: Database, corpus: Path, size: int) -> float:
    """Write the library unless this database already holds it; seconds spent."""
    with db.session() as session:
        held = session.scalar(sa.text("SELECT count(*) FROM chunks"))
    if held == size:
        return 0.0
    started = time.perf_counter()
    texts = sample_chunks(corpus, min(size, 20_000))
    vectors = synthetic_vectors(size)
    drop_vector_indexes(db)  # built once at the end: row by row it is 600 rows/s
    with db.session() as session:
        session.execute(sa.text("DELETE FROM documents"))
    for start in range(0, size, _BATCH):
        with db.session() as session:
            ids = []
            for first in range(start, min(start + _BATCH, size), _PER_DOCUMENT):
                document = Document(
                    content_hash=f"bench-{first}",
                    title=f"report {first // _PER_DOCUMENT}",
                    source_path=f"/bench/report-{first // _PER_DOCUMENT}.pdf",
                    status=DocumentStatus.READY,
                    is_active=True,
                )
                session.add(document)
                session.flush()
                ids.append(document.id)
            copy_chunks(
                session,
                (
                    ChunkRow(
                        ids[(i - start) // _PER_DOCUMENT],
                        i % _PER_DOCUMENT,
                        texts[i % len(texts)],
                        f"report {i // _PER_DOCUMENT}",
                        "",
                        1 + (i % _PER_DOCUMENT) // 4,
                        1 + (i % _PER_DOCUMENT) // 4,
                        120,
                        vectors[i],
                    )
                    for i in range(start, min(start + _BATCH, size))
                ),
            )
        print(f"  wrote {min(start + _BATCH, size):,} of {size:,} passages", flush=True)
    with db.session() as session:
        session.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


def questions(corpus: Path, count: int) -> list[str]:
    path = corpus.parent / "queries.jsonl"
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle][:count]


def _library(settings: Settings, size: int) -> Database:
    return open_side_database(
        settings.database_url,
        settings.data_dir,
        f"bench_search_{size}",
        settings.text_search_config,
        vector_index=hnsw_index(settings),
        build=build_resources(settings),
    )


def bench_search(
    settings: Settings, corpus: Path, sizes: list[int], queries: int
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(5)
    texts = questions(corpus, queries)
    for size in sizes:
        db = _library(settings, size)
        try:
            written = fill(db, corpus, size)
        finally:
            db.dispose()
        db = _library(settings, size)  # opening again builds the index the fill dropped
        try:
            picks = synthetic_vectors(size)[rng.integers(0, size, len(texts))]
            noisy = picks + 0.5 * rng.standard_normal(picks.shape).astype(np.float32) / np.sqrt(
                EMBEDDING_DIM
            )
            vectors = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
            for ranking in TextRanking:
                params = replace(retrieval_params(settings), text_ranking=ranking)
                retriever = Retriever(db, build_embedder(settings), params)
                for mode in (Mode.HYBRID, Mode.FULLTEXT):
                    for text, vector in list(zip(texts, vectors, strict=True))[:10]:  # warm
                        retriever.search_vector(text, vector, top_k=10, mode=mode)
                    seconds = []
                    for text, vector in zip(texts, vectors, strict=True):
                        started = time.perf_counter()
                        retriever.search_vector(text, vector, top_k=10, mode=mode)
                        seconds.append(time.perf_counter() - started)
                    rows.append(
                        {
                            "passages": size,
                            "ranking": ranking.value,
                            "mode": mode.value,
                            "p50_ms": round(1000 * percentile(seconds, 0.5), 1),
                            "p95_ms": round(1000 * percentile(seconds, 0.95), 1),
                            "write_s": round(written, 1),
                        }
                    )
                    print(rows[-1], flush=True)
        finally:
            db.dispose()
    print_table(
        f"search: top 10 passages, {len(texts)} real questions a size, embedding excluded",
        rows,
        ["passages", "ranking", "mode", "p50_ms", "p95_ms", "write_s"],
    )
    return {"benchmark": "search", "queries": len(texts), "runs": rows}
