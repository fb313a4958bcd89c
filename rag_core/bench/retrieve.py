"""`retrieve`: vector search latency and recall@10 (against exact search) at growing
library sizes, for several HNSW index settings (the appliance's whole hybrid
statement is timed by `search`).

The chunks are synthetic: unit vectors in clusters (each a random centre plus noise,
so that neighbours exist as they do among real passages) with random words as text,
written with the same binary COPY as ingestion into a side database of the
appliance's server (`bench_retrieve_<size>`, kept and reused by later runs).  Queries
are noisy copies of stored vectors.  Exact neighbours come from numpy.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import sqlalchemy as sa

from rag_core.bench.common import percentile, print_table
from rag_core.db import Database, Document, DocumentStatus, open_side_database
from rag_core.db.bulk import ChunkRow, copy_chunks
from rag_core.db.models import EMBEDDING_DIM
from rag_core.db.vectorindex import BuildResources, HnswIndex, IndexKind
from rag_core.services import build_resources
from rag_core.settings import Settings

_BATCH = 20_000
_INDEX = "bench_hnsw"
_WORDS = [f"w{n:04d}" for n in range(3000)]


def index_specs(full: bool) -> list[HnswIndex]:
    specs = [HnswIndex(IndexKind.VECTOR, 16, 64), HnswIndex(IndexKind.HALFVEC, 16, 64)]
    if full:
        specs.append(HnswIndex(IndexKind.HALFVEC, 24, 100))
    return specs


def synthetic_vectors(size: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(size // 200, 20), EMBEDDING_DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((size, EMBEDDING_DIM), np.float32)
    for start in range(0, size, _BATCH):
        count = min(_BATCH, size - start)
        picks = centres[rng.integers(0, len(centres), count)]
        noise = rng.standard_normal((count, EMBEDDING_DIM)).astype(np.float32)
        block = picks + 0.9 * noise / np.sqrt(EMBEDDING_DIM)
        out[start : start + count] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def fill(db: Database, vectors: np.ndarray) -> float:
    """Write the synthetic library unless this database already holds it; seconds spent."""
    with db.session() as session:
        held = session.scalar(sa.text("SELECT count(*) FROM chunks"))
    if held == len(vectors):
        return 0.0
    started = time.perf_counter()
    rng = np.random.default_rng(11)
    # Built afterwards, once per setting: a graph updated row by row writes ~600 rows/s.
    drop_vector_indexes(db)
    with db.session() as session:
        session.execute(sa.text("DELETE FROM documents"))
        document = Document(
            content_hash="0" * 64,
            title="synthetic",
            source_path="/synthetic",
            status=DocumentStatus.READY,
            is_active=True,
        )
        session.add(document)
        session.flush()
        document_id = document.id
    for start in range(0, len(vectors), _BATCH):
        words = rng.integers(0, len(_WORDS), (min(_BATCH, len(vectors) - start), 30))
        with db.session() as session:
            copy_chunks(
                session,
                (
                    ChunkRow(
                        document_id,
                        start + i,
                        " ".join(_WORDS[w] for w in row),
                        "synthetic",
                        "",
                        1,
                        1,
                        30,
                        vectors[start + i],
                    )
                    for i, row in enumerate(words)
                ),
            )
        print(f"  wrote {start + len(words):,} of {len(vectors):,} chunks", flush=True)
    with db.session() as session:
        session.execute(sa.text("ANALYZE chunks"))
    return time.perf_counter() - started


def drop_vector_indexes(db: Database) -> None:
    with db.session() as session:
        names = session.scalars(
            sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"
                " AND indexdef LIKE '%USING hnsw%'"
            )
        ).all()
        for name in names:
            session.execute(sa.text(f'DROP INDEX "{name}"'))


def build_index(db: Database, spec: HnswIndex, resources: BuildResources) -> dict[str, Any]:
    """Build `spec` the way the appliance does (its memory and parallel workers)."""
    drop_vector_indexes(db)
    with db.engine.connect() as connection:
        resources.apply(connection)
        started = time.perf_counter()
        connection.execute(sa.text(spec.create_sql(_INDEX)))
        seconds = time.perf_counter() - started
        connection.commit()
        size = connection.scalar(sa.text("SELECT pg_relation_size(:name)"), {"name": _INDEX})
    return {"build_s": round(seconds, 1), "index_mb": round((size or 0) / 1e6, 1)}


def run_queries(
    db: Database, spec: HnswIndex, queries: np.ndarray, exact: np.ndarray, ef_search: int
) -> dict[str, Any]:
    # chunk_index is each synthetic chunk's row in `vectors`, as written by `fill`.
    distance = spec.distance_sql("embedding", ":q")
    statement = sa.text(f"SELECT chunk_index FROM chunks ORDER BY {distance} LIMIT 10")
    latencies: list[float] = []
    recalls: list[float] = []
    with db.engine.connect() as connection:
        connection.execute(sa.text(f"SET hnsw.ef_search = {ef_search}"))
        connection.execute(sa.text("SET hnsw.iterative_scan = relaxed_order"))
        for query in queries[:5]:  # bring the index into memory before timing
            connection.execute(statement, {"q": _literal(query)}).all()
        for query, truth in zip(queries, exact, strict=True):
            literal = _literal(query)
            started = time.perf_counter()
            found = connection.execute(statement, {"q": literal}).scalars().all()
            latencies.append((time.perf_counter() - started) * 1000)
            recalls.append(len(set(found) & {int(t) for t in truth}) / 10)
    return {
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "recall_at_10": round(float(np.mean(recalls)), 3),
    }


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ vectors.T
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return top


def bench_retrieve(
    settings: Settings, sizes: list[int], queries: int, ef_searches: list[int], full: bool
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(3)
    for size in sizes:
        db = open_side_database(
            settings.database_url,
            settings.data_dir,
            f"bench_retrieve_{size}",
            settings.text_search_config,
            vector_index=None,  # this benchmark builds each setting itself
        )
        try:
            vectors = synthetic_vectors(size)
            fill_seconds = fill(db, vectors)
            picks = vectors[rng.integers(0, size, queries)]
            noisy = picks + 0.5 * rng.standard_normal(picks.shape).astype(np.float32) / np.sqrt(
                EMBEDDING_DIM
            )
            query_vectors = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
            exact = exact_top10(vectors, query_vectors)
            del vectors
            for spec in index_specs(full):
                built = build_index(db, spec, build_resources(settings))
                for ef in ef_searches:
                    measured = run_queries(db, spec, query_vectors, exact, ef)
                    rows.append(
                        {
                            "chunks": size,
                            "index": spec.describe(),
                            "ef_search": ef,
                            **measured,
                            **built,
                            "write_s": round(fill_seconds, 1),
                        }
                    )
                    print(rows[-1], flush=True)
        finally:
            db.dispose()
    columns = ["chunks", "index", "ef_search", "p50_ms", "p95_ms", "recall_at_10"]
    columns += ["build_s", "index_mb", "write_s"]
    print_table(
        f"retrieve: top 10 by vector, {queries} queries a size; recall against exact search",
        rows,
        columns,
    )
    return {"benchmark": "retrieve", "queries": queries, "runs": rows}
