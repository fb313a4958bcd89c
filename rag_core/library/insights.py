"""Figures about how the appliance is used: questions per day, answer latency,
retrieval scores, abstention, feedback, and why files failed.  Read from the QueryLog
and the catalog; nothing here is stored."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from rag_core.db import Database
from rag_core.library.catalog import Catalog

SCORE_BUCKET = 0.1  # width of the retrieval-score histogram's bars


@dataclass(frozen=True)
class Day:
    day: date
    questions: int
    abstained: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    mean_top_score: float | None


@dataclass(frozen=True)
class Insights:
    since: datetime
    days: list[Day]  # days with questions, oldest first
    top_scores: list[tuple[float, int]]  # (bucket's lower edge, questions)
    feedback: dict[int, int]  # stars -> answers rated so
    failure_reasons: list[tuple[str, int]]  # (reason, files), most common first
    failed_files: int
    latency_p50_ms: float | None  # over the whole period
    latency_p95_ms: float | None
    # Answers in which the model wrote something, and those whose every written
    # sentence verified against the sources (the rest showed only what verified).
    written_answers: int = 0
    verified_answers: int = 0

    @property
    def questions(self) -> int:
        return sum(d.questions for d in self.days)

    @property
    def abstention_rate(self) -> float | None:
        return sum(d.abstained for d in self.days) / self.questions if self.questions else None

    @property
    def verified_rate(self) -> float | None:
        """Share of the model's answers whose every sentence verified."""
        return self.verified_answers / self.written_answers if self.written_answers else None

    @property
    def mean_feedback(self) -> float | None:
        rated = sum(self.feedback.values())
        return sum(k * v for k, v in self.feedback.items()) / rated if rated else None


_PER_DAY = sa.text("""
    SELECT (created_at AT TIME ZONE :zone)::date AS day,
           count(*) AS questions,
           count(*) FILTER (WHERE abstained) AS abstained,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
           avg((retrieved -> 0 ->> 'score')::float) AS mean_top_score
    FROM query_log
    WHERE created_at >= :since
    GROUP BY 1 ORDER BY 1
""")
_OVERALL = sa.text("""
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
           count(*) FILTER (WHERE sentences_written > 0) AS written,
           count(*) FILTER (
               WHERE sentences_written > 0 AND sentences_verified = sentences_written
           ) AS verified
    FROM query_log WHERE created_at >= :since
""")
_SCORES = sa.text("""
    SELECT floor((retrieved -> 0 ->> 'score')::float / :width) * :width AS bucket, count(*)
    FROM query_log
    WHERE created_at >= :since AND jsonb_array_length(retrieved) > 0
    GROUP BY 1 ORDER BY 1
""")
_FEEDBACK = sa.text("""
    SELECT feedback, count(*) FROM query_log
    WHERE created_at >= :since AND feedback IS NOT NULL
    GROUP BY 1 ORDER BY 1
""")


def insights(db: Database, catalog: Catalog, since: datetime) -> Insights:
    """Figures for questions asked since `since` (an aware time; days are counted in
    its time zone) and for the files failing now."""
    # An interval, not a name: Postgres reads "+01" in AT TIME ZONE the POSIX way round.
    offset = since.utcoffset()
    if offset is None:
        raise ValueError("`since` must carry its time zone")
    with db.session() as session:
        days = [
            Day(
                day=row.day,
                questions=row.questions,
                abstained=row.abstained,
                latency_p50_ms=row.p50,
                latency_p95_ms=row.p95,
                mean_top_score=row.mean_top_score,
            )
            for row in session.execute(_PER_DAY, {"since": since, "zone": offset})
        ]
        scores = [
            (round(float(bucket), 2), count)
            for bucket, count in session.execute(_SCORES, {"since": since, "width": SCORE_BUCKET})
        ]
        overall = session.execute(_OVERALL, {"since": since}).one()
        feedback = {
            int(stars): count for stars, count in session.execute(_FEEDBACK, {"since": since})
        }
    failures = catalog.failures()
    reasons = Counter(row.error or "unknown reason" for row in failures)
    return Insights(
        since=since,
        days=days,
        top_scores=scores,
        feedback=feedback,
        failure_reasons=reasons.most_common(),
        failed_files=len(failures),
        latency_p50_ms=overall.p50,
        latency_p95_ms=overall.p95,
        written_answers=overall.written,
        verified_answers=overall.verified,
    )
