"""Past questions: the QueryLog read back.

"Similar past questions" compares question embeddings (stored with each entry), so
"max paracetamol dose for kids" finds "maximum dose of paracetamol for children".
Each distinct question appears once, with its newest answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector

from rag_core.db import Database
from rag_core.db.models import EMBEDDING_DIM


@dataclass(frozen=True)
class PastQuestion:
    id: int
    question: str
    answer: str | None
    abstained: bool
    feedback: int | None
    asked_at: datetime
    similarity: float


_SIMILAR = sa.text("""
    SELECT * FROM (
        SELECT DISTINCT ON (lower(q.question))
               q.id, q.question, q.answer, q.abstained, q.feedback, q.created_at,
               1 - (q.embedding <=> :vector) AS similarity
        FROM query_log q
        WHERE q.embedding IS NOT NULL AND NOT q.id = ANY(:exclude)
          AND 1 - (q.embedding <=> :vector) >= :min_similarity
        ORDER BY lower(q.question), q.created_at DESC
    ) newest
    ORDER BY similarity DESC, created_at DESC
    LIMIT :limit
""").bindparams(sa.bindparam("vector", type_=Vector(EMBEDDING_DIM)))


class History:
    def __init__(self, db: Database) -> None:
        self.db = db

    def similar(
        self,
        vector: np.ndarray,
        *,
        limit: int = 5,
        min_similarity: float = 0.75,
        exclude: tuple[int, ...] = (),
    ) -> list[PastQuestion]:
        """Past questions close in meaning to the one whose embedding is `vector`,
        closest first; `exclude` leaves out entries (the question just asked)."""
        with self.db.session() as session:
            rows = session.execute(
                _SIMILAR,
                {
                    "vector": vector,
                    "exclude": list(exclude),
                    "min_similarity": min_similarity,
                    "limit": limit,
                },
            ).all()
        return [
            PastQuestion(
                id=row.id,
                question=row.question,
                answer=row.answer,
                abstained=row.abstained,
                feedback=row.feedback,
                asked_at=row.created_at,
                similarity=float(row.similarity),
            )
            for row in rows
        ]
