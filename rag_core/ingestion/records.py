"""The library's rows as ingestion changes them: a path claimed for a content (or
settled with no work: unchanged, linked, busy, waiting for its next try), a document's
passages stored in one transaction, a failure recorded with its next try, a path
retired.  Everything here is one short transaction on the database; the reading,
cutting and embedding around it is `ingest`'s.

A document is one content (unique by hash); a path points at the document it holds.
- Unchanged file: nothing happens.  Renamed, moved or copied file whose content is
  known: the path is pointed at the existing document, nothing is re-embedded.
- Changed file: a new document is made and swapped in for the path in one transaction
  that also stores its chunks, so a crash leaves either the old version or the new one
  searchable, never half of one.
- Missing file: the path is marked absent; a document no present path holds is hidden
  from search (kept, with its chunks, for the audit trail and for when it comes back).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from rag_core.db import Chunk, Database, Document, DocumentStatus, FileRecord
from rag_core.db.bulk import ChunkRow, copy_chunks
from rag_core.db.textsearch import searchable_title
from rag_core.errors import DiskFull, ExtractionFailed, RagError
from rag_core.extract import Extracted
from rag_core.figures.rows import document_rows
from rag_core.figures.store import write_rows
from rag_core.ingestion.chunking import TextChunk
from rag_core.ingestion.folders import FolderMeta, indexed_title
from rag_core.ingestion.results import IngestOptions, IngestResult, Outcome
from rag_core.ingestion.retries import given_up, next_step, retry_delay
from rag_core.search.model_change import Embedded, check_space

log = logging.getLogger(__name__)

# What a file says of itself, kept in its document's metadata: its own title, the
# files of its attachments.
_FOUND_IN_FILE = ("file_title", "attachments")


class Records:
    def __init__(self, db: Database, options: IngestOptions) -> None:
        self.db = db
        self.options = options

    def seen_as_is(self, path: Path, stat: os.stat_result) -> bool:
        with self.db.session() as session:
            record = session.get(FileRecord, str(path))
            if record is None or record.document_id is None:
                return False
            ready = session.scalar(
                sa.select(Document.status == DocumentStatus.READY).where(
                    Document.id == record.document_id
                )
            )
            return bool(
                ready and (record.size_bytes, record.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            )

    def retire(self, path: Path) -> IngestResult:
        """The file at `path` is gone: mark the path absent and hide a document that
        no present path holds any more."""
        path = path.absolute()
        with self.db.session() as session:
            record = session.get(FileRecord, str(path), with_for_update=True)
            if record is None or not record.present:
                return IngestResult(
                    path,
                    Outcome.GONE if record is None else Outcome.UNCHANGED,
                    "file not found" if record is None else "already retired",
                )
            record.present = False
            session.flush()
            _refresh_documents(session, [record.document_id, record.latest_document_id])
            still = record.document_id is not None and session.scalar(
                sa.select(Document.is_active).where(Document.id == record.document_id)
            )
        message = (
            "file removed; its content stays under another name"
            if still
            else ("file removed; retired from search")
        )
        return IngestResult(path, Outcome.RETIRED, message, record.document_id)

    def claim(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        content_hash: str,
        meta: FolderMeta,
        retry_failed: bool,
        reindex: bool = False,
    ) -> IngestResult | int:
        """Settle what needs no work, or mark a document 'processing' and return its id."""
        with self.db.session() as session:
            record = session.get(FileRecord, str(path), with_for_update=True)
            if record is None:
                record = FileRecord(path=str(path))
                session.add(record)
            was_present = bool(record.present) if record.present is not None else False
            touched = (record.size_bytes, record.mtime_ns) != (size, mtime_ns)
            record.present = True
            record.size_bytes, record.mtime_ns = size, mtime_ns
            record.sidecar_mtime_ns = meta.sidecar_mtime_ns
            record.error = None
            record.failures, record.retry_at = 0, None
            document = session.scalars(
                sa.select(Document).where(Document.content_hash == content_hash).with_for_update()
            ).first()

            if document is not None and document.status == DocumentStatus.READY and reindex:
                # Stays ready, so its passages stay searchable until the new ones
                # replace them in one transaction.
                _apply_meta(document, meta, path)
                return document.id
            if document is not None and document.status == DocumentStatus.READY:
                previous = record.document_id
                record.document_id = record.latest_document_id = document.id
                _apply_meta(document, meta, path)
                session.flush()
                _refresh_documents(session, [previous, document.id])
                _drop_unreferenced_chunks(session, [previous])
                attachment_files = tuple(map(Path, document.metadata_.get("attachments", [])))
                if previous == document.id and was_present:
                    return IngestResult(
                        path,
                        Outcome.UNCHANGED,
                        "unchanged",
                        document.id,
                        attachment_files=attachment_files,
                    )
                others = session.scalars(
                    sa.select(FileRecord.path).where(
                        FileRecord.document_id == document.id,
                        FileRecord.present,
                        FileRecord.path != str(path),
                    )
                ).first()
                message = (
                    f"same content as {others}; linked, nothing re-embedded"
                    if others
                    else "known content; back in search, nothing re-embedded"
                )
                return IngestResult(
                    path, Outcome.LINKED, message, document.id, attachment_files=attachment_files
                )

            if document is not None and document.status == DocumentStatus.FAILED:
                record.latest_document_id = document.id
                if retry_failed:
                    document.failures = 0  # a person asked: a fresh run of tries
                else:
                    waiting = self._waiting(session, document, touched)
                    if waiting is not None:
                        return IngestResult(path, Outcome.UNCHANGED, waiting, document.id)
            if document is not None and document.status == DocumentStatus.PROCESSING:
                idle = session.scalar(
                    sa.select(sa.extract("epoch", sa.func.now() - Document.updated_at)).where(
                        Document.id == document.id
                    )
                )
                if idle is not None and float(idle) < self.options.stale_seconds:
                    return IngestResult(path, Outcome.BUSY, "same content is being processed")
                log.warning("taking over %s, abandoned while processing", path)

            if document is None:
                previous_version = session.scalar(
                    sa.select(Document.version).where(
                        Document.id == (record.latest_document_id or record.document_id)
                    )
                )
                document = Document(
                    title=meta.title_for(path),
                    source_path=str(path),
                    content_hash=content_hash,
                    document_type=meta.document_type,
                    tags=list(meta.tags),
                    metadata_=dict(meta.metadata),
                    version=(previous_version or 0) + 1,
                    is_active=False,
                    size_bytes=size,
                    status=DocumentStatus.PROCESSING,
                )
                session.add(document)
            document.status = DocumentStatus.PROCESSING
            document.error = None
            document.retry_at = None
            document.updated_at = sa.func.now()  # type: ignore[assignment]
            session.flush()
            record.latest_document_id = document.id
            return document.id

    @staticmethod
    def _waiting(session: Session, document: Document, touched: bool) -> str | None:
        """Why content that failed is left alone now, or None when it is to be read
        again: its next try is due, or the file was touched since (`retries`)."""
        if document.retry_at is None:
            return f"unchanged since it failed: {document.error}"
        now = session.scalar(sa.select(sa.func.now()))
        assert now is not None
        if touched or document.retry_at <= now:
            return None
        return f"failed: {document.error}; {next_step(document.error, document.retry_at, now)}"

    def commit(
        self,
        document_id: int,
        path: Path,
        extracted: Extracted,
        chunks: list[TextChunk],
        vectors: Embedded,
        meta: FolderMeta,
        title: str,
        attachment_files: list[Path],
        *,
        started: float,
    ) -> None:
        with self.db.session() as session:
            check_space(session, vectors.space)  # raises EmbedderChanged
            document = session.get(Document, document_id, with_for_update=True)
            assert document is not None
            session.execute(sa.delete(Chunk).where(Chunk.document_id == document_id))
            document.title = title
            heading = searchable_title(indexed_title(title, path))
            self.write_chunks(
                session,
                (
                    ChunkRow(
                        document_id,
                        chunk.index,
                        chunk.text,
                        heading,
                        chunk.section,
                        chunk.page_start,
                        chunk.page_end,
                        chunk.token_count,
                        vector,
                    )
                    for chunk, vector in zip(chunks, vectors.vectors, strict=True)
                ),
            )
            write_rows(
                session, document_id, document_rows([(p.number, p.text) for p in extracted.pages])
            )
            document.status = DocumentStatus.READY
            document.error = None
            document.failures, document.retry_at = 0, None
            document.page_count = extracted.page_count
            document.ingest_seconds = time.perf_counter() - started
            document.document_type = meta.document_type or extracted.document_type
            found: dict[str, object] = {"file_title": extracted.title} if extracted.title else {}
            if attachment_files:
                found["attachments"] = [str(file) for file in attachment_files]
            document.metadata_ = {
                **{k: v for k, v in document.metadata_.items() if k not in _FOUND_IN_FILE},
                **found,
            }
            recognised = [p.number for p in extracted.pages if p.recognised]
            if recognised:
                document.metadata_ = {**document.metadata_, "recognised_pages": recognised}
            record = session.get(FileRecord, str(path), with_for_update=True)
            assert record is not None
            previous = record.document_id
            record.document_id = record.latest_document_id = document_id
            session.flush()
            _refresh_documents(session, [previous, document_id])
            _drop_unreferenced_chunks(session, [previous])

    def write_chunks(self, session: Session, rows: Iterable[ChunkRow]) -> None:
        """A document's passages, in one COPY (`bench ingest` compares one insert each)."""
        copy_chunks(session, rows)

    def touch(self, document_id: int) -> None:
        """Tell other workers this document is still being worked on."""
        with self.db.session() as session:
            session.execute(
                sa.update(Document)
                .where(Document.id == document_id, Document.status == DocumentStatus.PROCESSING)
                .values(updated_at=sa.func.now())
            )

    def mark_failed(self, document_id: int, failure: RagError) -> tuple[str, float | None]:
        """Record why the document failed and when it is tried again (`retries`);
        returns the reason recorded and the seconds until the next try (None: none)."""
        with self.db.session() as session:
            document = session.get(Document, document_id, with_for_update=True)
            assert document is not None
            reason, delay = self._failure(failure, document.failures)
            document.status = DocumentStatus.FAILED
            document.error = reason
            if not isinstance(failure, DiskFull):  # no fault of the file's, nor a try
                document.failures += 1
            document.retry_at = _from_now(delay)
            document.updated_at = sa.func.now()  # type: ignore[assignment]
        return reason, delay

    def _failure(self, failure: RagError, failures_before: int) -> tuple[str, float | None]:
        """The reason to record for `failure`, and the seconds until the next try."""
        if isinstance(failure, DiskFull):
            return str(failure), self.options.disk_full_retry_seconds
        reason = str(failure)
        if given_up(failure, failures_before):
            reason = f"{reason} (tried {failures_before + 1} times)"
        return reason, retry_delay(failure, failures_before)

    def reindex_failed(
        self, path: Path, document_id: int, failure: RagError
    ) -> tuple[str, float | None]:
        """A re-index that failed leaves the ready version searchable; the file shows
        why, and it is not tried again by itself."""
        with self.db.session() as session:
            session.execute(
                sa.update(FileRecord)
                .where(FileRecord.path == str(path))
                .values(error=f"re-index failed: {failure}", updated_at=sa.func.now())
            )
        return str(failure), None

    def path_failed(self, path: Path, failure: ExtractionFailed) -> IngestResult:
        """Record a failure of the path itself (there is no content to make a document
        of), with what the file looked like, so it is tried again once it changes, or
        when `retries` says (a file that could not be opened)."""
        try:
            stat = path.stat()
            signature: tuple[int | None, int | None] = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            signature = (None, None)
        with self.db.session() as session:
            record = session.get(FileRecord, str(path), with_for_update=True)
            if record is None:
                record = FileRecord(path=str(path))
                session.add(record)
            reason, delay = self._failure(failure, record.failures or 0)
            record.present = True
            record.error = reason
            record.failures = (record.failures or 0) + 1
            record.retry_at = _from_now(delay)
            record.size_bytes, record.mtime_ns = signature
            record.sidecar_mtime_ns = None
        return IngestResult(path, Outcome.FAILED, reason, retry_after=delay)

    def release(self, document_ids: Iterable[int]) -> None:
        """Documents left "processing" by work the database cut off: any worker may
        take them over now, not only once they look stale."""
        with self.db.session() as session:
            session.execute(
                sa.update(Document)
                .where(
                    Document.id.in_(list(document_ids)),
                    Document.status == DocumentStatus.PROCESSING,
                )
                .values(updated_at=sa.func.now() - timedelta(days=1))
            )


def _apply_meta(document: Document, meta: FolderMeta, path: Path) -> None:
    """Folder and sidecar metadata, applied without re-embedding.  The path placed most
    recently speaks for the document: moving a file into drop/contracts/ makes it a
    contract, renaming it renames the document."""
    document.title = meta.title_for(path, document.metadata_.get("file_title", ""))
    heading = searchable_title(indexed_title(document.title, path))
    session = object_session(document)
    assert session is not None
    session.execute(
        sa.update(Chunk)
        .where(Chunk.document_id == document.id, Chunk.heading != heading)
        .values(heading=heading)
    )
    if meta.document_type:
        document.document_type = meta.document_type
    if meta.sidecar_mtime_ns is not None:
        document.tags = list(meta.tags)
        document.metadata_ = {**document.metadata_, **meta.metadata}


def _refresh_documents(session: Session, ids: Iterable[int | None]) -> None:
    """Keep `is_active` = ready and held by a present path, and `source_path` = its
    first present path; a message's attachment files are present while it is active."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return
    session.execute(
        sa.text("""
            UPDATE documents d
            SET is_active = d.status = 'ready' AND EXISTS (
                    SELECT 1 FROM files f WHERE f.document_id = d.id AND f.present),
                source_path = COALESCE(
                    (SELECT min(f.path) FROM files f WHERE f.document_id = d.id AND f.present),
                    d.source_path),
                updated_at = now()
            WHERE d.id = ANY(:ids)
        """),
        {"ids": wanted},
    )
    # Attachments follow their message: out of search with it, back with it.
    followed = session.execute(
        sa.text("""
            UPDATE files f SET present = d.is_active, updated_at = now()
            FROM documents d,
                 jsonb_array_elements_text(COALESCE(d.metadata -> 'attachments', '[]')) a(path)
            WHERE d.id = ANY(:ids) AND f.path = a.path AND f.present IS DISTINCT FROM d.is_active
            RETURNING f.document_id
        """),
        {"ids": wanted},
    ).scalars()
    _refresh_documents(session, followed)


def _drop_unreferenced_chunks(session: Session, ids: Iterable[int | None]) -> None:
    """An old version no path points at any more keeps its row (audit trail) but not
    its chunks nor its table rows.  A deleted file's version keeps them: it may come back."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return
    for table in ("chunks", "table_rows"):
        session.execute(
            sa.text(f"""
                DELETE FROM {table} c WHERE c.document_id = ANY(:ids)
                AND NOT EXISTS (SELECT 1 FROM files f WHERE f.document_id = c.document_id)
            """),
            {"ids": wanted},
        )


def _from_now(seconds: float | None) -> Any:
    """A time `seconds` from now by the database's clock (the job queue's), or None."""
    return None if seconds is None else sa.func.now() + timedelta(seconds=seconds)
