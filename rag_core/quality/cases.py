"""The site's test cases: generated questions, answers staff rated 4-5 stars, and
low-rated answers an administrator corrected (the to-fix list).

A rated case follows its rating: rated 4-5 it is active, rated lower (or unrated) it is
retired.  A low-rated answer with a note is on the to-fix list until an administrator
marks where the answer is (it becomes a case), says the library cannot answer it (a
case that expects an abstention) or dismisses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rag_core.access.audit import Action, AuditTrail
from rag_core.db import Database, Document, QueryLog
from rag_core.db.models import QualityCase
from rag_core.errors import QuestionRejected
from rag_core.quality.generation import Generated

ORIGINS = ("generated", "rated", "fixed")
GOOD_RATING = 4  # and above: the answer is a regression case
LOW_RATING = 2  # and below, with a note: on the to-fix list


@dataclass(frozen=True)
class Expected:
    """Where a case's answer is: a document, and a page of it (None: anywhere in it)."""

    source: str
    title: str
    page: int | None = None
    page_end: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "page_end": self.page_end,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expected:
        return cls(
            str(data["source"]),
            str(data.get("title") or data["source"]),
            data.get("page"),
            data.get("page_end"),
        )

    @property
    def label(self) -> str:
        from rag_core.answers.prompting import page_label

        return page_label(self.title, self.page, self.page_end)


@dataclass(frozen=True)
class Case:
    id: int
    origin: str
    question: str
    answer: str | None
    answerable: bool
    expected: tuple[Expected, ...]
    document_id: int | None

    @classmethod
    def from_row(cls, row: QualityCase) -> Case:
        return cls(
            row.id,
            row.origin,
            row.question,
            row.answer,
            row.answerable,
            tuple(Expected.from_json(e) for e in row.expected),
            row.document_id,
        )


@dataclass(frozen=True)
class ToFix:
    """A low-rated answer with a note, waiting for an administrator."""

    query_log_id: int
    asked_at: datetime
    question: str
    answer: str | None
    rating: int
    note: str
    asked_by: str | None
    shown: tuple[Expected, ...]


def _shown(sources: Sequence[dict[str, Any]]) -> tuple[Expected, ...]:
    seen: dict[tuple[str, int | None], Expected] = {}
    for s in sources:
        if s.get("source"):
            key = (str(s["source"]), s.get("page"))
            seen.setdefault(key, Expected.from_json(s))
    return tuple(seen.values())


class Cases:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    def add_generated(
        self, kept: Sequence[Generated], unanswerable: Sequence[tuple[str, Generated]], run_id: int
    ) -> int:
        """Store a generation's questions as active cases; returns how many."""
        with self.db.session() as session:
            for g in kept:
                p = g.passage
                session.add(
                    QualityCase(
                        origin="generated",
                        question=g.question,
                        answer=g.answer,
                        answerable=True,
                        expected=[Expected(p.source, p.title, p.page, p.page_end).to_json()],
                        document_id=p.document_id,
                        details={"chunk_id": p.chunk_id, "run_id": run_id},
                    )
                )
            for question, g in unanswerable:
                session.add(
                    QualityCase(
                        origin="generated",
                        question=question,
                        answerable=False,
                        document_id=g.passage.document_id,
                        details={"made_from": g.question, "run_id": run_id},
                    )
                )
        return len(kept) + len(unanswerable)

    def retire_generated(self) -> int:
        """Retire every generated case (before a new set replaces them)."""
        with self.db.session() as session:
            retired = session.scalars(
                sa.update(QualityCase)
                .where(QualityCase.origin == "generated", QualityCase.state == "active")
                .values(state="retired")
                .returning(QualityCase.id)
            ).all()
        return len(retired)

    def sync_ratings(self) -> None:
        """Answers rated 4-5 stars become cases (the question, the sources shown with
        the answer); a case whose answer is no longer rated so is retired."""
        with self.db.session() as session:
            good = session.execute(
                sa.select(
                    QueryLog.id,
                    QueryLog.question,
                    QueryLog.answer,
                    QueryLog.sources,
                    QueryLog.abstained,
                )
                .where(QueryLog.feedback >= GOOD_RATING)
                .where(~sa.exists().where(QualityCase.query_log_id == QueryLog.id))
            ).all()
            for row in good:
                expected = _shown(row.sources)
                if not expected and not row.abstained:
                    continue  # nothing was shown: nothing to look for
                session.add(
                    QualityCase(
                        origin="rated",
                        question=row.question,
                        answer=row.answer,
                        answerable=not row.abstained,  # a rated abstention: abstain again
                        expected=[e.to_json() for e in expected] if not row.abstained else [],
                        query_log_id=row.id,
                    )
                )
            rated = sa.select(QueryLog.id).where(QueryLog.feedback >= GOOD_RATING)
            session.execute(
                sa.update(QualityCase)
                .where(QualityCase.origin == "rated", QualityCase.state == "active")
                .where(QualityCase.query_log_id.not_in(rated))
                .values(state="retired")
            )
            session.execute(
                sa.update(QualityCase)
                .where(QualityCase.origin == "rated", QualityCase.state == "retired")
                .where(QualityCase.query_log_id.in_(rated))
                .values(state="active")
            )

    def active(self) -> list[Case]:
        """The cases a check asks, oldest first (rated answers brought up to date)."""
        self.sync_ratings()
        with self.db.session() as session:
            rows = session.scalars(
                sa.select(QualityCase).where(QualityCase.state == "active").order_by(QualityCase.id)
            ).all()
            return [Case.from_row(r) for r in rows]

    def with_ids(self, ids: Sequence[int]) -> list[Case]:
        """The cases of `ids` that still exist, whatever their state, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(
                sa.select(QualityCase).where(QualityCase.id.in_(ids)).order_by(QualityCase.id)
            ).all()
            return [Case.from_row(r) for r in rows]

    def generated_in(self, run_id: int) -> int:
        """How many answerable questions generation run `run_id` has stored so far."""
        with self.db.session() as session:
            return (
                session.scalar(
                    sa.select(sa.func.count(QualityCase.id)).where(
                        QualityCase.details["run_id"].as_integer() == run_id,
                        QualityCase.answerable,
                    )
                )
                or 0
            )

    def counts(self) -> dict[str, int]:
        """Active cases by origin, and how many expect an abstention."""
        cases = self.active()
        counts = {origin: sum(1 for c in cases if c.origin == origin) for origin in ORIGINS}
        counts["unanswerable"] = sum(1 for c in cases if not c.answerable)
        return counts

    def generated_questions(self) -> set[str]:
        with self.db.session() as session:
            return {
                q.lower()
                for q in session.scalars(
                    sa.select(QualityCase.question).where(QualityCase.origin == "generated")
                )
            }

    def to_fix(self) -> list[ToFix]:
        """Answers rated 1-2 stars with a note, not yet made a case or dismissed, newest
        first."""
        with self.db.session() as session:
            rows = session.scalars(
                sa.select(QueryLog)
                .where(QueryLog.feedback <= LOW_RATING, QueryLog.feedback_comment.is_not(None))
                .where(~sa.exists().where(QualityCase.query_log_id == QueryLog.id))
                .order_by(QueryLog.created_at.desc(), QueryLog.id.desc())
            ).all()
            return [
                ToFix(
                    r.id,
                    r.created_at,
                    r.question,
                    r.answer,
                    int(r.feedback or 0),
                    r.feedback_comment or "",
                    r.user_name,
                    _shown(r.sources or []),
                )
                for r in rows
            ]

    def fix(
        self,
        query_log_id: int,
        by: str,
        *,
        document_id: int | None = None,
        page: int | None = None,
    ) -> int:
        """Make a to-fix answer a case: its answer is on `page` of `document_id`
        (`page` None: anywhere in it), or, with no document, the library cannot answer
        it (the case expects an abstention).  Returns the case's id."""
        with self.db.session() as session:
            entry = session.get(QueryLog, query_log_id)
            if entry is None:
                raise QuestionRejected("That answer is no longer in the history.")
            expected: list[dict[str, Any]] = []
            if document_id is not None:
                document = session.get(Document, document_id)
                if document is None:
                    raise QuestionRejected("That document is not in the library.")
                if page is not None and (page < 1 or (document.page_count or page) < page):
                    raise QuestionRejected(
                        f"{document.title} has {document.page_count} pages; page {page} is "
                        "not one of them."
                    )
                expected = [Expected(document.source_path, document.title, page).to_json()]
            _not_reviewed(session, query_log_id)
            case = QualityCase(
                origin="fixed",
                question=entry.question,
                answerable=document_id is not None,
                expected=expected,
                document_id=document_id,
                query_log_id=query_log_id,
                created_by=by,
            )
            session.add(case)
            session.flush()
            case_id = case.id
        self.audit.record(
            by,
            Action.QUALITY_CASE,
            {"query_log_id": query_log_id, "case_id": case_id, "expected": expected},
        )
        return case_id

    def dismiss(self, query_log_id: int, by: str) -> None:
        """Take a to-fix answer off the list without making it a case."""
        with self.db.session() as session:
            entry = session.get(QueryLog, query_log_id)
            if entry is None:
                raise QuestionRejected("That answer is no longer in the history.")
            _not_reviewed(session, query_log_id)
            session.add(
                QualityCase(
                    origin="fixed",
                    question=entry.question,
                    query_log_id=query_log_id,
                    state="dismissed",
                    created_by=by,
                )
            )
        self.audit.record(
            by, Action.QUALITY_CASE, {"query_log_id": query_log_id, "dismissed": True}
        )


def _not_reviewed(session: Session, query_log_id: int) -> None:
    if session.scalar(sa.select(QualityCase.id).where(QualityCase.query_log_id == query_log_id)):
        raise QuestionRejected("That answer has already been reviewed.")
