"""The HNSW index behind vector search: what it is built on, and keeping it as set.

The stored `chunks.embedding` stays a full-precision `vector`; the index is built either
on it (`vector`) or on its half-precision cast (`halfvec`, the default).  Measured with
`python -m rag_core.bench retrieve` (README "Performance"): at 100k chunks the halfvec
index is 43 % smaller, builds faster and answers faster at the same recall; the stored
vectors keep their precision for the similarity the relevance floor is judged on.

The index in use is recorded in `app_state`; when the settings name another one,
`use_vector_index` rebuilds it once, at start-up, with enough memory for the build
(PostgreSQL's default 64 MB makes a 100k-chunk build 4x slower; DESIGN.md).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag_core.db.models import EMBEDDING_DIM

log = logging.getLogger(__name__)

INDEX_NAME = "ix_chunks_embedding_hnsw"
_STATE_KEY = "vector_index"


class IndexKind(StrEnum):
    HALFVEC = "halfvec"
    VECTOR = "vector"


@dataclass(frozen=True)
class HnswIndex:
    """An HNSW cosine index on the chunk embeddings, and the SQL that uses it."""

    kind: IndexKind = IndexKind.HALFVEC
    m: int = 16
    ef_construction: int = 64

    def describe(self) -> str:
        return f"{self.kind} m={self.m} ef_construction={self.ef_construction}"

    def create_sql(self, name: str = INDEX_NAME, column: str = "embedding") -> str:
        if self.kind is IndexKind.HALFVEC:
            target = f"({column}::halfvec({EMBEDDING_DIM})) halfvec_cosine_ops"
        else:
            target = f"{column} vector_cosine_ops"
        return (
            f"CREATE INDEX {name} ON chunks USING hnsw ({target})"
            f" WITH (m = {self.m}, ef_construction = {self.ef_construction})"
        )

    def distance_sql(self, column: str, query: str) -> str:
        """Cosine distance of `column` to the bound vector `query` (e.g. `:qvec`), in
        the form the index answers (PostgreSQL uses an expression index only for the
        very expression it was built on)."""
        if self.kind is IndexKind.HALFVEC:
            half = f"halfvec({EMBEDDING_DIM})"
            return f"{column}::{half} <=> CAST({query} AS {half})"
        return f"{column} <=> CAST({query} AS vector({EMBEDDING_DIM}))"


DEFAULT_INDEX = HnswIndex()


@dataclass(frozen=True)
class BuildResources:
    """What PostgreSQL may use while it builds the index."""

    memory_mb: int = 2048
    workers: int = max(0, min((os.cpu_count() or 1) - 1, 7))  # the leader works too

    def apply(self, conn: Connection) -> None:
        """For the current transaction only."""
        conn.execute(
            sa.text(
                "SELECT set_config('maintenance_work_mem', :memory, true),"
                " set_config('max_parallel_maintenance_workers', :workers, true)"
            ),
            {"memory": f"{self.memory_mb}MB", "workers": str(self.workers)},
        )


DEFAULT_BUILD = BuildResources()


def use_vector_index(conn: Connection, index: HnswIndex, resources: BuildResources) -> None:
    """Make the chunks' vector index `index`, rebuilding it if it was built otherwise
    or is missing.  Runs in the caller's transaction (under the migration lock)."""
    current = conn.scalar(
        sa.text("SELECT value FROM app_state WHERE key = :key FOR UPDATE"), {"key": _STATE_KEY}
    )
    present = conn.scalar(sa.text("SELECT to_regclass(:name)"), {"name": INDEX_NAME})
    if current == index.describe() and present is not None:
        return
    passages = conn.scalar(sa.text("SELECT count(*) FROM chunks")) or 0
    log.info(
        "vector index: building %s over %d passages (was %s)%s",
        index.describe(),
        passages,
        current or "vector m=16 ef_construction=64",
        "; this can take minutes" if passages > 50_000 else "",
    )
    started = time.perf_counter()
    resources.apply(conn)
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {INDEX_NAME}"))
    conn.execute(sa.text(index.create_sql()))
    conn.execute(
        sa.text(
            "INSERT INTO app_state (key, value) VALUES (:key, :value)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"key": _STATE_KEY, "value": index.describe()},
    )
    log.info("vector index: built in %.1f s", time.perf_counter() - started)
