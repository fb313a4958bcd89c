"""What the library holds: files by status, failures with reasons, filter values.

One row per file present in the drop folder.  A file's status is its newest attempt's:
a changed file whose new version failed shows as failed (with the reason) while its old
version is still searchable.  A file that cannot even be read carries its own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rag_core.answers.context import join_overlapping
from rag_core.db import Chunk, Database, Document, FileRecord, Job, JobStatus
from rag_core.ingestion.retries import next_step

FAILED = "failed"


@dataclass(frozen=True)
class StatusCounts:
    queued: int  # jobs waiting
    ready: int
    processing: int
    failed: int
    chunks: int

    @property
    def documents(self) -> int:
        return self.ready + self.processing + self.failed


@dataclass(frozen=True)
class DocumentRow:
    id: int | None  # the newest attempt's document
    title: str
    source: str
    status: str
    error: str | None
    document_type: str | None
    tags: tuple[str, ...]
    pages: int | None
    version: int | None
    updated_at: datetime
    # While processing: (done, of total, unit): passages embedded, scanned pages read.
    progress: tuple[int, int, str] | None = None
    chunks: int | None = None  # passages in search (filled by `find`)
    attached_to: str | None = None  # the e-mail it came attached to, by its title
    retry_at: datetime | None = None  # failed, and tried again then (else: not by itself)

    def next_step(self, now: datetime | None = None) -> str | None:
        """For a failed file, what happens next: "will try again in 2 min", "needs a
        password"; None for any other."""
        if self.status != FAILED:
            return None
        return next_step(self.error, self.retry_at, now or datetime.now(UTC))


@dataclass(frozen=True)
class DocumentDetail:
    id: int
    title: str
    status: str
    error: str | None
    searchable: bool
    document_type: str | None
    tags: tuple[str, ...]
    pages: int | None
    passages: int
    version: int
    size_bytes: int | None
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any]
    files: tuple[tuple[str, bool], ...]  # (path, present)
    versions: tuple[tuple[int, int, str, datetime], ...]  # (id, version, status, created)


STATUSES = ("ready", "processing", "queued", FAILED)


@dataclass(frozen=True)
class DocumentQuery:
    search: str = ""  # words in the title or the file's path
    status: str | None = None  # one of STATUSES
    document_type: str | None = None
    tag: str | None = None
    limit: int | None = 25
    offset: int = 0


@dataclass(frozen=True)
class DocumentPage:
    rows: list[DocumentRow]
    total: int  # rows matching, over all pages


@dataclass(frozen=True)
class FileSignature:
    present: bool
    size_bytes: int | None
    mtime_ns: int | None
    sidecar_mtime_ns: int | None


def _progress(
    running: tuple[int | None, int | None, str | None] | None,
) -> tuple[int, int, str] | None:
    if running is None or running[1] is None:
        return None
    return running[0] or 0, running[1], running[2] or "passages"


def _attached_to(document: Any) -> sa.ColumnElement[Any]:
    """The subject of the e-mail a document came attached to; null if it did not."""
    return sa.case(
        (document.metadata_.has_key("attachment_of"), document.metadata_["message"].as_string())
    )


def _present_files() -> sa.Select[tuple[object, ...]]:
    latest = sa.orm.aliased(Document)
    status = sa.case((FileRecord.error.is_not(None), FAILED), else_=latest.status)
    return (
        sa.select(
            latest.id,
            sa.func.coalesce(latest.title, FileRecord.path).label("title"),
            FileRecord.path,
            sa.func.coalesce(status, "queued").label("status"),
            sa.func.coalesce(FileRecord.error, latest.error).label("error"),
            sa.case(
                (FileRecord.error.is_not(None), FileRecord.retry_at), else_=latest.retry_at
            ).label("retry_at"),
            latest.document_type,
            latest.tags,
            latest.page_count,
            latest.version,
            _attached_to(latest).label("attached_to"),
            sa.func.greatest(FileRecord.updated_at, latest.updated_at).label("updated_at"),
        )
        .select_from(FileRecord)
        .outerjoin(latest, latest.id == FileRecord.latest_document_id)
        .where(FileRecord.present)
    )


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def status_counts(self) -> StatusCounts:
        files = _present_files().subquery()
        with self.db.session() as session:
            rows = session.execute(
                sa.select(files.c.status, sa.func.count()).group_by(files.c.status)
            ).all()
            by_status: dict[str, int] = {row[0]: row[1] for row in rows}
            chunks = session.scalar(
                sa.select(sa.func.count(Chunk.id))
                .join(Document, Document.id == Chunk.document_id)
                .where(Document.is_active)
            )
            # Jobs due now: a failed file's next try, queued for later, is counted
            # with the failed (which say when it is).
            queued = session.scalar(
                sa.select(sa.func.count(Job.id)).where(
                    Job.status == JobStatus.QUEUED, Job.run_after <= sa.func.now()
                )
            )
        return StatusCounts(
            queued=queued or 0,
            ready=by_status.get("ready", 0),
            processing=by_status.get("processing", 0),
            failed=by_status.get(FAILED, 0),
            chunks=chunks or 0,
        )

    def documents(self, status: str | None = None) -> list[DocumentRow]:
        """Every present file, most recently changed first."""
        return self.find(DocumentQuery(status=status, limit=None), count_chunks=False).rows

    def find(
        self, query: DocumentQuery = DocumentQuery(), *, count_chunks: bool = True
    ) -> DocumentPage:
        """One page of the present files matching `query`, most recently changed first,
        with how many match in all."""
        files = _present_files().subquery()
        conditions = []
        for word in query.search.split():
            conditions.append(
                sa.or_(
                    files.c.title.icontains(word, autoescape=True),
                    files.c.path.icontains(word, autoescape=True),
                )
            )
        if query.status is not None:
            conditions.append(files.c.status == query.status)
        if query.document_type is not None:
            conditions.append(files.c.document_type == query.document_type)
        if query.tag is not None:
            conditions.append(files.c.tags.any_() == query.tag)
        select = (
            sa.select(files)
            .where(*conditions)
            .order_by(files.c.updated_at.desc(), files.c.path)
            .offset(query.offset)
        )
        if query.limit is not None:
            select = select.limit(query.limit)
        with self.db.session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(files).where(*conditions))
            rows = session.execute(select).all()
            running = {
                row.path: (row.progress_done, row.progress_total, row.progress_unit)
                for row in session.execute(
                    sa.select(
                        Job.path, Job.progress_done, Job.progress_total, Job.progress_unit
                    ).where(Job.status == JobStatus.RUNNING)
                )
            }
            chunks: dict[int, int] = {}
            if count_chunks:
                ids = [row.id for row in rows if row.id is not None]
                chunks = {
                    document_id: count
                    for document_id, count in session.execute(
                        sa.select(Chunk.document_id, sa.func.count())
                        .where(Chunk.document_id.in_(ids))
                        .group_by(Chunk.document_id)
                    ).all()
                }
        return DocumentPage(
            [
                DocumentRow(
                    id=row.id,
                    title=row.title,
                    source=row.path,
                    # A re-index keeps the document ready (and searchable) meanwhile.
                    status="processing"
                    if row.path in running and row.status == "ready"
                    else row.status,
                    error=row.error,
                    document_type=row.document_type,
                    tags=tuple(row.tags or ()),
                    pages=row.page_count,
                    version=row.version,
                    attached_to=row.attached_to,
                    retry_at=row.retry_at,
                    updated_at=row.updated_at,
                    progress=_progress(running.get(row.path)),
                    chunks=chunks.get(row.id, 0) if count_chunks and row.id is not None else None,
                )
                for row in rows
            ],
            total or 0,
        )

    def detail(self, document_id: int) -> DocumentDetail | None:
        """One document (any version, active or not): its details, the files that hold
        it, its passages, and the other versions of those files."""
        with self.db.session() as session:
            document = session.get(Document, document_id)
            if document is None:
                return None
            files = session.execute(
                sa.select(FileRecord.path, FileRecord.present)
                .where(
                    sa.or_(
                        FileRecord.document_id == document_id,
                        FileRecord.latest_document_id == document_id,
                    )
                )
                .order_by(FileRecord.path)
            ).all()
            passages = session.scalar(
                sa.select(sa.func.count()).where(Chunk.document_id == document_id)
            )
            paths = [row.path for row in files] or [document.source_path]
            versions = session.execute(
                sa.select(Document.id, Document.version, Document.status, Document.created_at)
                .where(Document.source_path.in_(paths))
                .order_by(Document.version, Document.id)
            ).all()
            return DocumentDetail(
                id=document.id,
                title=document.title,
                status=document.status,
                error=document.error,
                searchable=document.is_active,
                document_type=document.document_type,
                tags=tuple(document.tags or ()),
                pages=document.page_count,
                passages=passages or 0,
                version=document.version,
                size_bytes=document.size_bytes,
                created_at=document.created_at,
                updated_at=document.updated_at,
                metadata=dict(document.metadata_ or {}),
                files=tuple((row.path, bool(row.present)) for row in files),
                versions=tuple(
                    (row.id, row.version, str(row.status), row.created_at) for row in versions
                ),
            )

    def passages(
        self, document_id: int, limit: int, offset: int = 0
    ) -> list[tuple[int, int | None, int | None, str, str]]:
        """A document's passages in order: (index, first page, last page, section,
        text)."""
        with self.db.session() as session:
            rows = session.execute(
                sa.select(
                    Chunk.chunk_index, Chunk.page_start, Chunk.page_end, Chunk.section, Chunk.text
                )
                .where(Chunk.document_id == document_id)
                .order_by(Chunk.chunk_index)
                .offset(offset)
                .limit(limit)
            ).all()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def page_text(self, document_id: int, page: int | None) -> str:
        """The text of one page of a document (for a text file, page None: all of it),
        rebuilt from its passages."""
        with self.db.session() as session:
            texts = session.scalars(
                sa.select(Chunk.text)
                .where(
                    Chunk.document_id == document_id,
                    Chunk.page_start.is_(None) if page is None else Chunk.page_start == page,
                )
                .order_by(Chunk.chunk_index)
            ).all()
        return join_overlapping(texts)

    def recognised_pages(self, document_id: int) -> frozenset[int]:
        """Pages whose text was recognised from their image (OCR): to be checked."""
        with self.db.session() as session:
            metadata = session.scalar(
                sa.select(Document.metadata_).where(Document.id == document_id)
            )
        return frozenset((metadata or {}).get("recognised_pages", ()))

    def attached_to(self, document_id: int) -> str | None:
        """The title of the e-mail this document came attached to, if it did."""
        with self.db.session() as session:
            message = session.scalar(
                sa.select(_attached_to(Document)).where(Document.id == document_id)
            )
        return str(message) if message else None

    def document_file(self, document_id: int) -> Path | None:
        """A file in the drop folder that holds this document now, if any is left."""
        with self.db.session() as session:
            path = session.scalar(
                sa.select(FileRecord.path)
                .where(FileRecord.document_id == document_id, FileRecord.present)
                .order_by(FileRecord.updated_at.desc())
                .limit(1)
            )
        return Path(path) if path else None

    def file_signatures(self, under: Path) -> dict[Path, FileSignature]:
        """What the database last saw of every file under a folder."""
        prefix = str(under).rstrip("/") + "/"
        with self.db.session() as session:
            rows = session.execute(
                sa.select(
                    FileRecord.path,
                    FileRecord.present,
                    FileRecord.size_bytes,
                    FileRecord.mtime_ns,
                    FileRecord.sidecar_mtime_ns,
                ).where(sa.func.starts_with(FileRecord.path, prefix))
            ).all()
        return {
            Path(row.path): FileSignature(
                row.present, row.size_bytes, row.mtime_ns, row.sidecar_mtime_ns
            )
            for row in rows
        }

    def failures(self) -> list[DocumentRow]:
        return self.documents(status=FAILED)

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

    def folders(self, root: Path) -> list[str]:
        """Folders below `root` (the drop folder) holding searchable files, relative to
        it, each with every folder between it and `root`."""
        with self.db.session() as session:
            paths = session.scalars(
                sa.select(FileRecord.path)
                .join(Document, Document.id == FileRecord.document_id)
                .where(FileRecord.present, Document.is_active)
            ).all()
        folders: set[str] = set()
        for path in paths:
            for parent in Path(path).parents:
                if parent == root or not parent.is_relative_to(root):
                    break
                folders.add(str(parent.relative_to(root)))
        return sorted(folders)
