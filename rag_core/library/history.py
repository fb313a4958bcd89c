"""Past questions: the QueryLog read back, searched, rated and exported.

"Similar past questions" compares question embeddings (stored with each entry), so
"max paracetamol dose for kids" finds "maximum dose of paracetamol for children".
Each distinct question appears once, with its newest answer.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector

from rag_core.answers.prompting import page_label
from rag_core.db import Database, QueryLog
from rag_core.db.models import EMBEDDING_DIM
from rag_core.errors import QuestionRejected


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
          AND (CAST(:asked_by AS text) IS NULL OR q.user_name = :asked_by)
          AND 1 - (q.embedding <=> :vector) >= :min_similarity
        ORDER BY lower(q.question), q.created_at DESC
    ) newest
    ORDER BY similarity DESC, created_at DESC
    LIMIT :limit
""").bindparams(sa.bindparam("vector", type_=Vector(EMBEDDING_DIM)))


@dataclass(frozen=True)
class ShownSource:
    number: int
    title: str
    source: str
    page: int | None
    page_end: int | None
    score: float

    @property
    def label(self) -> str:
        return page_label(self.title, self.page, self.page_end)


@dataclass(frozen=True)
class LoggedAnswer:
    id: int
    asked_at: datetime
    question: str
    answer: str | None
    abstained: bool
    sources: tuple[ShownSource, ...]
    latency_ms: float | None
    top_score: float | None  # the best retrieval score, shown or not
    feedback: int | None
    feedback_comment: str | None
    user_name: str | None


OUTCOMES = ("answered", "abstained")
FEEDBACK_FILTERS = ("rated", "unrated", "low")  # low: 1 or 2 of 5


@dataclass(frozen=True)
class HistoryQuery:
    search: str = ""  # words in the question or the answer
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    outcome: str | None = None  # one of OUTCOMES
    feedback: str | None = None  # one of FEEDBACK_FILTERS
    asked_by: str | None = None  # one person's questions only
    limit: int | None = 50
    offset: int = 0


@dataclass(frozen=True)
class HistoryPage:
    entries: list[LoggedAnswer]
    total: int  # entries matching, over all pages


_TOP_SCORE = QueryLog.retrieved[0]["score"].as_float()
CSV_COLUMNS = (
    "asked_at",
    "question",
    "answer",
    "abstained",
    "sources",
    "latency_ms",
    "top_score",
    "feedback",
    "feedback_comment",
    "user",
)


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
        asked_by: str | None = None,
    ) -> list[PastQuestion]:
        """Past questions close in meaning to the one whose embedding is `vector`,
        closest first; `exclude` leaves out entries (the question just asked);
        `asked_by` keeps only that person's."""
        with self.db.session() as session:
            rows = session.execute(
                _SIMILAR,
                {
                    "vector": vector,
                    "exclude": list(exclude),
                    "asked_by": asked_by,
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

    def similar_to(
        self,
        entry_id: int,
        *,
        limit: int = 5,
        min_similarity: float = 0.75,
        asked_by: str | None = None,
    ) -> list[PastQuestion]:
        """Past questions close in meaning to a logged one (its stored embedding)."""
        with self.db.session() as session:
            vector = session.scalar(sa.select(QueryLog.embedding).where(QueryLog.id == entry_id))
        if vector is None:
            return []
        return self.similar(
            np.asarray(vector),
            limit=limit,
            min_similarity=min_similarity,
            exclude=(entry_id,),
            asked_by=asked_by,
        )

    def find(self, query: HistoryQuery = HistoryQuery()) -> HistoryPage:
        """Logged questions matching `query`, newest first, one page of them."""
        conditions = _conditions(query)
        select = (
            sa.select(QueryLog, _TOP_SCORE.label("top_score"))
            .where(*conditions)
            .order_by(QueryLog.created_at.desc(), QueryLog.id.desc())
            .offset(query.offset)
        )
        if query.limit is not None:
            select = select.limit(query.limit)
        with self.db.session() as session:
            total = session.scalar(sa.select(sa.func.count(QueryLog.id)).where(*conditions)) or 0
            entries = [_logged(entry, top) for entry, top in session.execute(select).all()]
        return HistoryPage(entries, total)

    def get(self, entry_id: int) -> LoggedAnswer | None:
        with self.db.session() as session:
            row = session.execute(
                sa.select(QueryLog, _TOP_SCORE).where(QueryLog.id == entry_id)
            ).first()
            return _logged(row[0], row[1]) if row else None

    def rate(self, entry_id: int, rating: int | None) -> None:
        """Store a person's rating of an answer (1-5 stars; None clears it)."""
        if rating is not None and not 1 <= rating <= 5:
            raise QuestionRejected("A rating is from 1 to 5 stars.")
        with self.db.session() as session:
            session.execute(
                sa.update(QueryLog).where(QueryLog.id == entry_id).values(feedback=rating)
            )

    def comment(self, entry_id: int, comment: str) -> None:
        """Store a person's comment on an answer (blank clears it)."""
        with self.db.session() as session:
            session.execute(
                sa.update(QueryLog)
                .where(QueryLog.id == entry_id)
                .values(feedback_comment=comment.strip() or None)
            )

    def export_csv(self, query: HistoryQuery = HistoryQuery()) -> str:
        """Every entry matching `query` (all pages) as CSV text, newest first."""
        entries = self.find(HistoryQuery(**{**query.__dict__, "limit": None, "offset": 0}))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for entry in entries.entries:
            writer.writerow(
                [
                    entry.asked_at.isoformat(timespec="seconds"),
                    entry.question,
                    entry.answer or "",
                    "yes" if entry.abstained else "no",
                    "; ".join(f"[{s.number}] {s.label}" for s in entry.sources),
                    f"{entry.latency_ms:.0f}" if entry.latency_ms is not None else "",
                    f"{entry.top_score:.3f}" if entry.top_score is not None else "",
                    entry.feedback or "",
                    entry.feedback_comment or "",
                    entry.user_name or "",
                ]
            )
        return out.getvalue()


def _conditions(query: HistoryQuery) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    for word in query.search.split():
        conditions.append(
            sa.or_(
                QueryLog.question.icontains(word, autoescape=True),
                QueryLog.answer.icontains(word, autoescape=True),
            )
        )
    if query.asked_by is not None:
        conditions.append(QueryLog.user_name == query.asked_by)
    if query.since is not None:
        conditions.append(QueryLog.created_at >= query.since)
    if query.until is not None:
        conditions.append(QueryLog.created_at < query.until)
    if query.outcome == "answered":
        conditions.append(sa.not_(QueryLog.abstained))
    elif query.outcome == "abstained":
        conditions.append(QueryLog.abstained.is_(True))
    if query.feedback == "rated":
        conditions.append(QueryLog.feedback.is_not(None))
    elif query.feedback == "unrated":
        conditions.append(QueryLog.feedback.is_(None))
    elif query.feedback == "low":
        conditions.append(QueryLog.feedback <= 2)
    return conditions


def _logged(entry: QueryLog, top_score: float | None) -> LoggedAnswer:
    return LoggedAnswer(
        id=entry.id,
        asked_at=entry.created_at,
        question=entry.question,
        answer=entry.answer,
        abstained=entry.abstained,
        sources=tuple(
            ShownSource(
                number=int(s["number"]),
                title=str(s.get("title") or s.get("source") or "?"),
                source=str(s.get("source") or ""),
                page=s.get("page"),
                page_end=s.get("page_end"),
                score=float(s.get("score") or 0.0),
            )
            for s in entry.sources or []
        ),
        latency_ms=entry.latency_ms,
        top_score=top_score,
        feedback=entry.feedback,
        feedback_comment=entry.feedback_comment,
        user_name=entry.user_name,
    )
