"""Bring one path's document up to date: hash -> extract -> chunk -> embed -> store.

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

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from rag_core.db import Chunk, Database, Document, DocumentStatus, FileRecord
from rag_core.db.bulk import ChunkRow, copy_chunks
from rag_core.db.textsearch import searchable_title
from rag_core.errors import (
    DatabaseUnavailable,
    DiskFull,
    ExtractionFailed,
    FileRefused,
    RagError,
    ReadInterrupted,
)
from rag_core.extract import Extracted, is_supported
from rag_core.extract.common import Attachment
from rag_core.ingestion.attachments import attachment_folder, save_attachments
from rag_core.ingestion.chunking import TextChunk, chunk_pages
from rag_core.ingestion.folders import FolderMeta, folder_meta, indexed_title, is_sidecar
from rag_core.ingestion.heartbeat import Heartbeat
from rag_core.ingestion.isolation import ExtractionLimits, IsolatedExtractor
from rag_core.ingestion.retries import given_up, next_step, retry_delay
from rag_core.search.embedding import Embedder, passage_in_context

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Told how far a file is: (passages embedded, of all), or before that, for a
    scan, (scanned pages recognised, of all, "scanned pages")."""

    def __call__(self, done: int, total: int, unit: str = "passages") -> None: ...


# What a file says of itself, kept in its document's metadata: its own title, the
# files of its attachments.
_FOUND_IN_FILE = ("file_title", "attachments")
_EMBED_SLICE = 64  # chunks embedded between progress reports
# What ingestion stores from a file (extraction, cleaning, chunking, the text embedded).
# Raised with every change to it, so evaluation databases are built again.
PIPELINE_VERSION = 6  # 6: the title a file carries, with its name (5: OCR, storable text)
_T = TypeVar("_T")


class Outcome(StrEnum):
    INGESTED = "ingested"  # new content, embedded and stored
    LINKED = "linked"  # known content under this path; nothing re-embedded
    UNCHANGED = "unchanged"
    RETIRED = "retired"  # the file is gone; hidden from search
    FAILED = "failed"
    BUSY = "busy"  # the same content is being processed elsewhere; try again later
    GONE = "gone"  # no such file, and none known there: removed before it was read


@dataclass(frozen=True)
class IngestResult:
    path: Path
    outcome: Outcome
    message: str
    document_id: int | None = None
    chunks: int = 0
    seconds: float = 0.0
    pages: int = 0
    # Seconds spent in each stage (extract, chunk, embed, write), for benchmarks.
    stages: dict[str, float] = field(default_factory=dict)
    # Failed for want of disk space: queue the file again after this many seconds.
    retry_after: float | None = None
    # A message's attachments, kept as files of their own (`rag_core.ingestion.attachments`),
    # and what became of each once ingested.
    attachment_files: tuple[Path, ...] = ()
    attachments: tuple[IngestResult, ...] = ()

    def line(self) -> str:
        """One line for a terminal or a log (and one more for each attachment)."""
        own = f"{self.outcome.value:9} {self.path}: {self.message}"
        if self.retry_after is not None:
            own += f"; tried again in {self.retry_after:g} s"
        return "\n".join([own, *(f"  {a.line()}" for a in self.attachments)])

    @property
    def failed(self) -> int:
        """Files that failed (or were not there to read): this one, its attachments."""
        own = self.outcome in (Outcome.FAILED, Outcome.GONE)
        return own + sum(a.failed for a in self.attachments)


@dataclass(frozen=True)
class IngestOptions:
    chunk_tokens: int
    chunk_overlap_tokens: int
    max_file_bytes: int
    limits: ExtractionLimits = field(default_factory=ExtractionLimits)
    drop_dir: Path | None = None  # subfolders of it name document types
    # Where e-mails' attachments are kept as files of their own; None: not kept.
    attachments_dir: Path | None = None
    # A document "processing" whose worker has not signalled for this long was
    # abandoned by a dead worker, and may be taken over.
    stale_seconds: float = 30.0
    disk_full_retry_seconds: float = 60.0
    # Where a file is copied while it is hashed, so what is read is what was hashed
    # (`snapshot`); None: the system's temporary folder.
    reading_dir: Path | None = None


class Ingestor:
    def __init__(self, db: Database, embedder: Embedder, options: IngestOptions) -> None:
        self.db = db
        self.embedder = embedder
        self.options = options
        self.extractor = IsolatedExtractor(options.limits)  # one reader process, reused
        if options.reading_dir is not None:
            remove_old_copies(options.reading_dir)
        # Documents this process was working on when the database went away: still
        # "processing" there, though nobody is (release_abandoned).
        self._abandoned: set[int] = set()

    def ingest_paths(
        self,
        paths: Iterable[Path],
        *,
        retry_failed: bool = True,
        document_type: str | None = None,
        tags: Sequence[str] = (),
    ) -> Iterator[IngestResult]:
        """Ingest files and every supported file under folders, one result per file, in
        order.  Three steps overlap so the embedder is not kept waiting: while one file
        is embedded, the next is read and cut into passages (in the reader process and a
        thread) and the one before is stored (in a writer thread, on its own database
        connection).  A file that needs no work starts no reading."""
        files = list(expand_paths(paths))
        with (
            ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as reader,
            ThreadPoolExecutor(1, thread_name_prefix="writer") as writer,
        ):
            ahead: dict[Path, Future[_Read | None]] = {}
            storing: list[tuple[str, Future[IngestResult]]] = []  # oldest first

            def settle(content_hash: str) -> None:
                # Content still being stored is claimed once it is stored, and then
                # found ready, not "being processed elsewhere".
                wait([future for stored, future in storing if stored == content_hash])

            for number, path in enumerate(files):
                following = files[number + 1] if number + 1 < len(files) else None

                def read_next(following: Path | None = following) -> None:
                    if following is not None and following not in ahead:
                        ahead[following] = reader.submit(self._read, following)

                step = self._begin(
                    path,
                    retry_failed=retry_failed,
                    document_type=document_type,
                    tags=tags,
                    pipeline=_Pipeline(ahead.pop(path, None), read_next, settle),
                )
                if isinstance(step, _Storing):
                    storing.append((step.content_hash, writer.submit(step.run)))
                # Results go out in order: the file before this one is stored by now,
                # or nearly (its writing ran beside this file's embedding).
                while storing and (len(storing) > 1 or isinstance(step, IngestResult)):
                    yield self._with_attachments(storing.pop(0)[1].result())
                if isinstance(step, IngestResult):
                    yield self._with_attachments(step)
            while storing:
                yield self._with_attachments(storing.pop(0)[1].result())

    def ingest_file(
        self,
        path: Path,
        *,
        retry_failed: bool = True,
        document_type: str | None = None,
        tags: Sequence[str] = (),
        progress: Progress | None = None,
        reindex: bool = False,
    ) -> IngestResult:
        """Bring `path` up to date.  Never raises for a bad file: the reason is recorded
        (document or path status failed) and returned.  `retry_failed=False` leaves
        content that failed before alone until it changes; `reindex=True` extracts and
        embeds unchanged content again (its old passages stay searchable meanwhile)."""
        step = self._begin(
            path,
            retry_failed=retry_failed,
            document_type=document_type,
            tags=tags,
            progress=progress,
            reindex=reindex,
        )
        result = step.run() if isinstance(step, _Storing) else step
        return self._with_attachments(result, progress)

    def _with_attachments(
        self, result: IngestResult, progress: Progress | None = None
    ) -> IngestResult:
        """A message's result once its attachments are ingested too (each a document
        of its own).  Also done when the message was unchanged, so attachments cut off
        by a crash after the message was stored are ingested when it is tried again."""
        if not result.attachment_files:
            return result
        done = tuple(self.ingest_file(file, progress=progress) for file in result.attachment_files)
        return replace(result, attachments=done)

    def _begin(
        self,
        path: Path,
        *,
        retry_failed: bool,
        document_type: str | None,
        tags: Sequence[str],
        progress: Progress | None = None,
        reindex: bool = False,
        pipeline: _Pipeline | None = None,
    ) -> IngestResult | _Storing:
        """Everything up to storing: the result when the file needs no storing (or
        failed), else what is left to do, which keeps the document's heartbeat going
        until it is done (in whichever thread runs it)."""
        started = time.perf_counter()
        path = path.absolute()
        if not path.exists() and not path.is_symlink():
            return self.retire(path)
        try:
            if not path.is_file():
                raise FileRefused(_not_a_file_reason(path))
            stat = path.stat()
            reading = self._snapshot(path, stat)
        except ExtractionFailed as exc:
            return self._path_failed(path, exc)
        except OSError as exc:
            log.warning("cannot read %s: %r", path, exc)
            # Permissions put right, a file busy elsewhere: tried again with backoff.
            return self._path_failed(path, ReadInterrupted("file cannot be opened (permissions?)"))
        try:
            return self._begin_reading(
                path,
                stat,
                reading,
                _Asked(retry_failed, document_type, tuple(tags), progress, reindex),
                pipeline,
                started,
            )
        finally:
            reading.remove()

    def _snapshot(self, path: Path, stat: os.stat_result) -> Snapshot:
        """What to read of `path`: a private copy, hashed as it is made, unless the
        file is as the library last saw it (same size and modification time, and
        ready), which is only hashed, as a rescan finds most files."""
        if stat.st_size > self.options.max_file_bytes or self._seen_as_is(path, stat):
            return Snapshot(path, file_sha256(path), None)
        try:
            return snapshot(path, self.options.reading_dir)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not path.exists():
                raise
            log.warning("no room to copy %s before reading it: read in place", path)
            return Snapshot(path, file_sha256(path), None)

    def _seen_as_is(self, path: Path, stat: os.stat_result) -> bool:
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

    def _begin_reading(
        self,
        path: Path,
        stat: os.stat_result,
        reading: Snapshot,
        asked: _Asked,
        pipeline: _Pipeline | None,
        started: float,
    ) -> IngestResult | _Storing:
        """`_begin` once the file is hashed (and copied, to be read as it was hashed)."""
        retry_failed, document_type, tags = asked.retry_failed, asked.document_type, asked.tags
        progress, reindex = asked.progress, asked.reindex
        content_hash = reading.sha256

        meta = folder_meta(path, self.options.drop_dir)
        if document_type or tags:
            meta = FolderMeta(
                document_type=document_type or meta.document_type,
                title=meta.title,
                tags=tuple(tags) or meta.tags,
                metadata=meta.metadata,
                sidecar_mtime_ns=meta.sidecar_mtime_ns,
            )
        if pipeline is not None:
            pipeline.settle(content_hash)
        try:
            decision = self._claim(
                path, stat.st_size, stat.st_mtime_ns, content_hash, meta, retry_failed, reindex
            )
        except sa.exc.IntegrityError:
            # Another worker inserted the same content a moment ago.
            return IngestResult(path, Outcome.BUSY, "same content is being processed")
        if isinstance(decision, IngestResult):
            return decision
        document_id = decision

        heartbeat = Heartbeat(
            lambda: self._touch(document_id), every=self.options.stale_seconds / 3
        )
        heartbeat.start()
        try:
            step = self._process(
                path,
                reading.path,
                document_id,
                (stat.st_size, content_hash),
                meta,
                progress,
                started,
                reindex,
                pipeline,
            )
        except BaseException:
            heartbeat.stop()
            raise
        if isinstance(step, IngestResult):
            heartbeat.stop()
            return step

        def store(step: Callable[[], IngestResult] = step) -> IngestResult:
            try:
                return step()
            finally:
                heartbeat.stop()

        return _Storing(content_hash, store)

    def _process(
        self,
        path: Path,
        read_from: Path,  # what was hashed: a copy of `path`, or `path`
        document_id: int,
        file: tuple[int, str],  # size, content hash
        meta: FolderMeta,
        progress: Progress | None,
        started: float,
        reindex: bool = False,
        pipeline: _Pipeline | None = None,
    ) -> IngestResult | Callable[[], IngestResult]:
        """Read, cut and embed the file: the failure, or the step that stores it."""
        guard = partial(self._guarded, path, document_id, reindex)
        size, content_hash = file
        if pipeline is not None:
            pipeline.this_file_has_work()
        stages: dict[str, float] = {}

        def prepare() -> tuple[_Prepared, str, np.ndarray]:
            if size > self.options.max_file_bytes:
                limit_mb = self.options.max_file_bytes / 1_000_000
                raise FileRefused(f"file is larger than the {limit_mb:g} MB limit")
            prepared = self._prepared(read_from, content_hash, pipeline, progress)
            stages.update(prepared.stages)
            clock = time.perf_counter()
            title = meta.title_for(path, prepared.extracted.title)
            vectors = self._embed(indexed_title(title, path), prepared.chunks, progress)
            stages["embed"] = time.perf_counter() - clock
            return prepared, title, vectors

        made = guard(prepare)
        if isinstance(made, IngestResult):
            return made
        prepared, title, vectors = made
        extracted, chunks = prepared.extracted, prepared.chunks

        def store() -> IngestResult:
            clock = time.perf_counter()
            files = self._save_attachments(
                path, content_hash, document_id, extracted.attachments, title, meta
            )
            self._commit(
                document_id, path, extracted, chunks, vectors, meta, title, files, started=started
            )
            stages["write"] = time.perf_counter() - clock
            seconds = time.perf_counter() - started
            pages = f"{extracted.page_count} pages, " if extracted.page_count else ""
            return IngestResult(
                path,
                Outcome.INGESTED,
                f"{pages}{len(chunks)} chunks in {seconds:.1f} s",
                document_id,
                len(chunks),
                seconds,
                extracted.page_count or 0,
                stages,
                attachment_files=tuple(files),
            )

        return partial(guard, store)

    def _guarded(
        self, path: Path, document_id: int, reindex: bool, work: Callable[[], _T]
    ) -> _T | IngestResult:
        """`work()`, or the failed result it came to, recorded on the document."""
        # A failed re-index leaves the ready version searchable; the file shows the reason.
        fail = partial(self._reindex_failed, path) if reindex else self._mark_failed
        try:
            return work()
        except DatabaseUnavailable:
            # Not the file's fault, and nothing to record it in: the job is done again
            # once the database is back (ingest_watch.worker).
            self._abandoned.add(document_id)
            raise
        except DiskFull:
            return self._disk_full(path, document_id, fail)
        except RagError as exc:
            failure: RagError = exc
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                return self._disk_full(path, document_id, fail)
            # The per-file edge: a bug or a library failure must not stop the run or
            # leave the document "processing" forever.  The traceback goes to the log.
            log.exception("ingesting %s failed", path)
            failure = RagError("internal error while processing the file (details in the log)")
        reason, delay = fail(document_id, failure)
        return IngestResult(path, Outcome.FAILED, reason, document_id, retry_after=delay)

    def _prepare(self, path: Path, progress: Progress | None = None) -> _Prepared:
        """The file read (in the reader process) and cut into passages."""
        clock = time.perf_counter()
        reading = None
        if progress is not None:

            def reading(done: int, total: int) -> None:
                progress(done, total, "scanned pages")

        extracted = self.extractor.extract(path, reading)
        read = time.perf_counter()
        chunks = chunk_pages(
            extracted.pages,
            self.embedder.count_tokens,
            self.options.chunk_tokens,
            self.options.chunk_overlap_tokens,
        )
        if not chunks:
            raise ExtractionFailed("no text in file")
        cut = time.perf_counter()
        return _Prepared(extracted, chunks, {"extract": read - clock, "chunk": cut - read})

    def _read(self, path: Path) -> _Read | None:
        """Read a file ahead of its turn: its content hash, and its passages (or the
        reason there are none).  None for a file that is not to be read (over the size
        limit, or not there): its turn will say why."""
        try:
            if path.stat().st_size > self.options.max_file_bytes:
                return None
            reading = snapshot(path, self.options.reading_dir)
        except OSError:
            return None
        try:
            return _Read(reading.sha256, self._prepare(reading.path))
        except RagError as exc:
            return _Read(reading.sha256, exc)
        finally:
            reading.remove()

    def _prepared(
        self,
        path: Path,
        content_hash: str,
        pipeline: _Pipeline | None,
        progress: Progress | None = None,
    ) -> _Prepared:
        """The file's passages: read ahead if they were, and of this same content."""
        read = pipeline.read.result() if pipeline and pipeline.read else None
        if read is None or read.content_hash != content_hash:
            return self._prepare(path, progress)
        if isinstance(read.result, Exception):
            raise read.result
        return read.result

    def release_abandoned(self) -> None:
        """Once the database answers again: the documents whose processing it cut
        off may be taken over by any worker now, not only once they look stale."""
        if not self._abandoned:
            return
        with self.db.session() as session:
            session.execute(
                sa.update(Document)
                .where(
                    Document.id.in_(self._abandoned),
                    Document.status == DocumentStatus.PROCESSING,
                )
                .values(updated_at=sa.func.now() - timedelta(days=1))
            )
        self._abandoned.clear()

    def _disk_full(
        self,
        path: Path,
        document_id: int,
        fail: Callable[[int, RagError], tuple[str, float | None]],
    ) -> IngestResult:
        """No space left to store the file: it fails with that reason (in a small
        write that usually still fits), to be tried again later."""
        delay = self.options.disk_full_retry_seconds
        reason = (
            f"disk full: no space left to store it; tried again every {delay:g} s until there is"
        )
        log.warning("%s: %s", path, reason)
        try:
            fail(document_id, DiskFull(reason))
        except DiskFull:
            log.warning("could not record the failure of %s either: the disk is full", path)
        except DatabaseUnavailable:  # the server stopped on the full disk
            self._abandoned.add(document_id)
            raise
        return IngestResult(path, Outcome.FAILED, reason, document_id, retry_after=delay)

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

    # --- steps ------------------------------------------------------------------------

    def _claim(
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

    def _embed(self, title: str, chunks: list[TextChunk], progress: Progress | None) -> np.ndarray:
        texts = [passage_in_context(title, c.section, c.text) for c in chunks]
        parts = []
        for start in range(0, len(texts), _EMBED_SLICE):
            parts.append(self.embedder.embed(texts[start : start + _EMBED_SLICE]))
            if progress is not None:
                progress(min(start + _EMBED_SLICE, len(texts)), len(texts))
        return np.concatenate(parts)

    def _commit(
        self,
        document_id: int,
        path: Path,
        extracted: Extracted,
        chunks: list[TextChunk],
        vectors: np.ndarray,
        meta: FolderMeta,
        title: str,
        attachment_files: list[Path],
        *,
        started: float,
    ) -> None:
        with self.db.session() as session:
            document = session.get(Document, document_id, with_for_update=True)
            assert document is not None
            session.execute(sa.delete(Chunk).where(Chunk.document_id == document_id))
            document.title = title
            heading = searchable_title(indexed_title(title, path))
            self._write_chunks(
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
                    for chunk, vector in zip(chunks, vectors, strict=True)
                ),
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

    def _save_attachments(
        self,
        path: Path,
        content_hash: str,
        document_id: int,
        attachments: tuple[Attachment, ...],
        title: str,
        meta: FolderMeta,
    ) -> list[Path]:
        """A message's attachments written out as files of their own, before the
        message is stored: a stored message always has its attachments on disk."""
        root = self.options.attachments_dir
        if not attachments or root is None:
            return []
        return save_attachments(
            attachment_folder(root, path, content_hash),
            attachments,
            message_document_id=document_id,
            message_title=title,
            meta=meta,
        )

    def _write_chunks(self, session: Session, rows: Iterable[ChunkRow]) -> None:
        copy_chunks(session, rows)

    def _touch(self, document_id: int) -> None:
        """Tell other workers this document is still being worked on."""
        with self.db.session() as session:
            session.execute(
                sa.update(Document)
                .where(Document.id == document_id, Document.status == DocumentStatus.PROCESSING)
                .values(updated_at=sa.func.now())
            )

    def _mark_failed(self, document_id: int, failure: RagError) -> tuple[str, float | None]:
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

    def _reindex_failed(
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

    def _path_failed(self, path: Path, failure: ExtractionFailed) -> IngestResult:
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


@dataclass(frozen=True)
class _Prepared:
    """A file read and cut into passages, with the seconds each took."""

    extracted: Extracted
    chunks: list[TextChunk]
    stages: dict[str, float]


@dataclass(frozen=True)
class _Asked:
    """What `ingest_file` was asked besides the path."""

    retry_failed: bool
    document_type: str | None
    tags: tuple[str, ...]
    progress: Progress | None
    reindex: bool


@dataclass(frozen=True)
class _Read:
    content_hash: str
    result: _Prepared | Exception


@dataclass(frozen=True)
class _Pipeline:
    """For `ingest_paths`: this file's passages if they were read ahead, how to start
    reading the next one once this one turns out to need work, and how to wait for a
    file of the same content still being stored."""

    read: Future[_Read | None] | None
    this_file_has_work: Callable[[], None]
    settle: Callable[[str], None]


@dataclass(frozen=True)
class _Storing:
    """What is left of a file once it is embedded: storing it."""

    content_hash: str
    run: Callable[[], IngestResult]


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
    its chunks.  A deleted file's version keeps them: it may come back."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return
    session.execute(
        sa.text("""
            DELETE FROM chunks c WHERE c.document_id = ANY(:ids)
            AND NOT EXISTS (SELECT 1 FROM files f WHERE f.document_id = c.document_id)
        """),
        {"ids": wanted},
    )


def _from_now(seconds: float | None) -> Any:
    """A time `seconds` from now by the database's clock (the job queue's), or None."""
    return None if seconds is None else sa.func.now() + timedelta(seconds=seconds)


def _not_a_file_reason(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "broken or looping symbolic link"
    if path.is_dir():
        return "is a folder, not a file"
    return "not a regular file"


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked recursively (links not followed) for supported
    files, in name order.  Hidden files and folders and sidecars are skipped."""
    for path in paths:
        if path.is_dir():
            found = []
            for child in walk_files(path):
                if is_supported(child) and not is_sidecar(child):
                    found.append(child)
            yield from sorted(found)
        else:
            yield path


def walk_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file (or link) under `root`; symbolic links to folders are not
    followed, so a link loop cannot trap the walk."""
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith("."):
                yield Path(folder) / name


@dataclass(frozen=True)
class Snapshot:
    """The bytes of a file as they were hashed: `path` is read, `sha256` is its hash;
    `folder` (a private copy's) is removed once it has been read."""

    path: Path
    sha256: str
    folder: Path | None

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def snapshot(path: Path, under: Path | None) -> Snapshot:
    """Copy `path` into a private folder (keeping its name, which readers go by) and
    hash the bytes as they are copied: a file rewritten while it is read is then read
    whole as it was hashed, never half old and half new, and a failure to read it
    belongs to the content that was read."""
    if under is not None:
        under.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="reading-", dir=under))
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source, (folder / path.name).open("wb") as copy:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                copy.write(block)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Snapshot(folder / path.name, digest.hexdigest(), folder)


_OLD_COPY_SECONDS = 6 * 3600  # far past any read's time limit


def remove_old_copies(under: Path) -> None:
    """Copies left by a reader that was killed mid-read (`snapshot`): those older than
    any read could take, so another worker's copy in use is never removed."""
    if not under.is_dir():
        return
    now = time.time()
    for folder in under.glob("reading-*"):
        try:
            if now - folder.stat().st_mtime > _OLD_COPY_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
