"""The pipeline for one file: hash -> extract -> chunk -> embed -> store.

Idempotent by content hash: an unchanged file is not read twice.  A changed file becomes
a new version, written in one transaction that also retires the old version, so a crash
leaves either the old version or the new one searchable, never half of one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa

from rag_core.chunking import TextChunk, chunk_pages
from rag_core.db import Chunk, Database, Document, DocumentStatus
from rag_core.embedding import Embedder
from rag_core.errors import ExtractionFailed, RagError
from rag_core.extract import Extracted, extract, is_supported

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    INGESTED = "ingested"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class IngestResult:
    path: Path
    outcome: Outcome
    message: str
    document_id: int | None = None
    chunks: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """One line for a terminal or a log."""
        return f"{self.outcome.value:9} {self.path}: {self.message}"


@dataclass(frozen=True)
class IngestOptions:
    chunk_tokens: int
    chunk_overlap_tokens: int
    max_file_bytes: int


class Ingestor:
    def __init__(self, db: Database, embedder: Embedder, options: IngestOptions) -> None:
        self.db = db
        self.embedder = embedder
        self.options = options

    def ingest_paths(
        self,
        paths: Iterable[Path],
        *,
        retry_failed: bool = True,
        document_type: str | None = None,
        tags: Iterable[str] = (),
    ) -> Iterator[IngestResult]:
        """Ingest files and every supported file under folders, one result per file."""
        for path in expand_paths(paths):
            yield self.ingest_file(
                path, retry_failed=retry_failed, document_type=document_type, tags=tags
            )

    def ingest_file(
        self,
        path: Path,
        *,
        retry_failed: bool = True,
        document_type: str | None = None,
        tags: Iterable[str] = (),
    ) -> IngestResult:
        """Ingest one file.  Never raises for a bad file: the reason is recorded on the
        document (status failed) and returned."""
        started = time.perf_counter()
        path = path.absolute()
        try:
            size = path.stat().st_size
            content_hash = file_sha256(path)
        except FileNotFoundError:
            return IngestResult(path, Outcome.FAILED, "file not found")
        except IsADirectoryError:
            return IngestResult(path, Outcome.FAILED, "is a folder, not a file")
        except OSError as exc:
            log.warning("cannot read %s: %r", path, exc)
            return IngestResult(path, Outcome.FAILED, "file cannot be opened (permissions?)")

        skip = self._unchanged_reason(path, content_hash, retry_failed)
        if skip is not None:
            return IngestResult(path, Outcome.UNCHANGED, skip)

        document_id = self._start_attempt(path, content_hash, size)
        try:
            if size > self.options.max_file_bytes:
                limit_mb = self.options.max_file_bytes / 1_000_000
                raise ExtractionFailed(f"file is larger than the {limit_mb:g} MB limit")
            extracted = extract(path)
            chunks = chunk_pages(
                extracted.pages,
                self.embedder.count_tokens,
                self.options.chunk_tokens,
                self.options.chunk_overlap_tokens,
            )
            if not chunks:
                raise ExtractionFailed("no text in file")
            vectors = self.embedder.embed([c.text for c in chunks])
            self._commit_version(
                document_id, path, extracted, chunks, vectors, document_type, list(tags)
            )
        except RagError as exc:
            self._mark_failed(document_id, str(exc))
            return IngestResult(path, Outcome.FAILED, str(exc), document_id)
        except Exception:
            # The per-file edge: a bug or a library failure must not stop the run or
            # leave the document "processing" forever.  The traceback goes to the log.
            log.exception("ingesting %s failed", path)
            reason = "internal error while processing the file (details in the log)"
            self._mark_failed(document_id, reason)
            return IngestResult(path, Outcome.FAILED, reason, document_id)

        seconds = time.perf_counter() - started
        pages = f"{extracted.page_count} pages, " if extracted.page_count else ""
        return IngestResult(
            path,
            Outcome.INGESTED,
            f"{pages}{len(chunks)} chunks in {seconds:.1f} s",
            document_id,
            len(chunks),
            seconds,
        )

    # --- database steps ---------------------------------------------------------------

    def _unchanged_reason(self, path: Path, content_hash: str, retry_failed: bool) -> str | None:
        with self.db.session() as session:
            latest = session.scalars(
                sa.select(Document)
                .where(Document.source_path == str(path))
                .order_by(Document.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.content_hash == content_hash:
                if latest.status == DocumentStatus.READY:
                    return "unchanged, already ingested"
                if latest.status == DocumentStatus.FAILED and not retry_failed:
                    return f"unchanged since it failed: {latest.error}"
            twin = session.scalars(
                sa.select(Document.source_path).where(
                    Document.content_hash == content_hash,
                    Document.is_active,
                    Document.source_path != str(path),
                )
            ).first()
            if twin is not None:
                return f"same content as {twin}, already ingested"
        return None

    def _start_attempt(self, path: Path, content_hash: str, size: int) -> int:
        """Record a 'processing' row for a new version; earlier unfinished or failed
        attempts for this file are replaced by it."""
        with self.db.session() as session:
            session.execute(
                sa.delete(Document).where(
                    Document.source_path == str(path),
                    Document.status != DocumentStatus.READY,
                )
            )
            newest = session.scalar(
                sa.select(sa.func.max(Document.version)).where(Document.source_path == str(path))
            )
            document = Document(
                title=path.name,
                source_path=str(path),
                content_hash=content_hash,
                status=DocumentStatus.PROCESSING,
                version=(newest or 0) + 1,
                is_active=False,
                size_bytes=size,
            )
            session.add(document)
            session.flush()
            return document.id

    def _commit_version(
        self,
        document_id: int,
        path: Path,
        extracted: Extracted,
        chunks: list[TextChunk],
        vectors: object,
        document_type: str | None,
        tags: list[str],
    ) -> None:
        with self.db.session() as session:
            old_ids = list(
                session.scalars(
                    sa.select(Document.id).where(
                        Document.source_path == str(path), Document.is_active
                    )
                )
            )
            if old_ids:
                # Old versions stay as rows (audit trail) but lose their chunks.
                session.execute(sa.delete(Chunk).where(Chunk.document_id.in_(old_ids)))
                session.execute(
                    sa.update(Document).where(Document.id.in_(old_ids)).values(is_active=False)
                )
            session.execute(
                sa.insert(Chunk),
                [
                    {
                        "document_id": document_id,
                        "chunk_index": chunk.index,
                        "text": chunk.text,
                        "page_start": chunk.page_start,
                        "page_end": chunk.page_end,
                        "token_count": chunk.token_count,
                        "embedding": vector,
                    }
                    for chunk, vector in zip(chunks, vectors, strict=True)  # type: ignore[call-overload]
                ],
            )
            metadata = {"pdf_title": extracted.title} if extracted.document_type == "pdf" else {}
            session.execute(
                sa.update(Document)
                .where(Document.id == document_id)
                .values(
                    status=DocumentStatus.READY,
                    error=None,
                    is_active=True,
                    page_count=extracted.page_count,
                    document_type=document_type or extracted.document_type,
                    tags=tags,
                    metadata_=metadata,
                    updated_at=sa.func.now(),
                )
            )

    def _mark_failed(self, document_id: int, reason: str) -> None:
        with self.db.session() as session:
            session.execute(
                sa.update(Document)
                .where(Document.id == document_id)
                .values(status=DocumentStatus.FAILED, error=reason, updated_at=sa.func.now())
            )


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked recursively for supported files, in name order.
    Hidden files and folders are skipped."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and is_supported(child):
                    yield child
        else:
            yield path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
