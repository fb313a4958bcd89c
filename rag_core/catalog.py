"""What the library holds: documents by status, failures with reasons, filter values.

A file's status is the status of its newest version: a changed file whose new version
failed shows as failed (with the reason) while its old version is still searchable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from rag_core.db import Chunk, Database, Document, DocumentStatus


@dataclass(frozen=True)
class StatusCounts:
    ready: int
    processing: int
    failed: int
    chunks: int

    @property
    def documents(self) -> int:
        return self.ready + self.processing + self.failed


@dataclass(frozen=True)
class DocumentRow:
    id: int
    title: str
    source: str
    status: str
    error: str | None
    document_type: str | None
    tags: tuple[str, ...]
    pages: int | None
    version: int
    updated_at: datetime


def _latest_versions() -> sa.Subquery:
    return (
        sa.select(Document)
        .distinct(Document.source_path)
        .order_by(Document.source_path, Document.version.desc())
        .subquery()
    )


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def status_counts(self) -> StatusCounts:
        latest = _latest_versions()
        with self.db.session() as session:
            rows = session.execute(
                sa.select(latest.c.status, sa.func.count()).group_by(latest.c.status)
            ).all()
            by_status: dict[str, int] = {row[0]: row[1] for row in rows}
            chunks = session.scalar(
                sa.select(sa.func.count(Chunk.id))
                .join(Document, Document.id == Chunk.document_id)
                .where(Document.is_active)
            )
        return StatusCounts(
            ready=by_status.get(DocumentStatus.READY, 0),
            processing=by_status.get(DocumentStatus.PROCESSING, 0),
            failed=by_status.get(DocumentStatus.FAILED, 0),
            chunks=chunks or 0,
        )

    def documents(self, status: DocumentStatus | None = None) -> list[DocumentRow]:
        """Newest version of every file, newest change first."""
        latest = _latest_versions()
        query = sa.select(latest).order_by(latest.c.updated_at.desc())
        if status is not None:
            query = query.where(latest.c.status == status)
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [
            DocumentRow(
                id=row.id,
                title=row.title,
                source=row.source_path,
                status=row.status,
                error=row.error,
                document_type=row.document_type,
                tags=tuple(row.tags or ()),
                pages=row.page_count,
                version=row.version,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    def document_types(self) -> list[str]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    sa.select(Document.document_type)
                    .where(Document.is_active, Document.document_type.is_not(None))
                    .distinct()
                    .order_by(Document.document_type)
                )
            )

    def tags(self) -> list[str]:
        tag = sa.func.unnest(Document.tags).label("tag")
        inner = sa.select(tag).where(Document.is_active).subquery()
        with self.db.session() as session:
            return list(session.scalars(sa.select(inner.c.tag).distinct().order_by(inner.c.tag)))
