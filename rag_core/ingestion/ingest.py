"""Bring one path's document up to date: hash -> read -> cut -> embed -> store.

The steps, each in its own module: `files` hashes the file while copying it (what is
read is what was hashed), `records` settles what needs no work or claims a document,
`isolation` reads it in a separate process under limits, `chunking` cuts the pages into
passages, the embedder makes their vectors here, and `records` stores them in one
transaction (or records the failure, with its next try from `retries`).  A message's
attachments are saved as files of their own (`attachments`) and ingested after it.
`ingest_paths` overlaps the steps of consecutive files so the embedder is not kept
waiting.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import sqlalchemy as sa

from rag_core.db import Database
from rag_core.errors import (
    DatabaseUnavailable,
    DiskFull,
    ExtractionFailed,
    FileRefused,
    RagError,
    ReadInterrupted,
)
from rag_core.extract.common import Attachment
from rag_core.ingestion.attachments import attachment_folder, save_attachments
from rag_core.ingestion.chunking import TextChunk
from rag_core.ingestion.files import (
    Snapshot,
    expand_paths,
    file_sha256,
    not_a_file_reason,
    remove_old_copies,
    snapshot,
)
from rag_core.ingestion.folders import FolderMeta, folder_meta, indexed_title
from rag_core.ingestion.heartbeat import Heartbeat
from rag_core.ingestion.isolation import IsolatedExtractor
from rag_core.ingestion.reading import PassageReader, Prepared, ReadAhead
from rag_core.ingestion.records import Records
from rag_core.ingestion.results import IngestOptions, IngestResult, Outcome, Progress
from rag_core.search.embedding import Embedder, passage_in_context
from rag_core.search.model_change import Embedded, EmbedderChanged

log = logging.getLogger(__name__)

_EMBED_SLICE = 64  # chunks embedded between progress reports
# What ingestion stores from a file (extraction, cleaning, chunking, the text embedded).
# Raised with every change to it, so evaluation databases are built again.
PIPELINE_VERSION = 6  # 6: the title a file carries, with its name (5: OCR, storable text)
_T = TypeVar("_T")


class Ingestor:
    def __init__(self, db: Database, embedder: Embedder, options: IngestOptions) -> None:
        self.db = db
        self.embedder = embedder
        self.options = options
        self.records = Records(db, options)
        # One reader process, reused from file to file.
        self.reader = PassageReader(
            IsolatedExtractor(options.limits), embedder.count_tokens, options
        )
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
            ahead: dict[Path, Future[ReadAhead | None]] = {}
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
                raise FileRefused(not_a_file_reason(path))
            stat = path.stat()
            reading = self._snapshot(path, stat)
        except ExtractionFailed as exc:
            return self.records.path_failed(path, exc)
        except OSError as exc:
            log.warning("cannot read %s: %r", path, exc)
            # Permissions put right, a file busy elsewhere: tried again with backoff.
            return self.records.path_failed(
                path, ReadInterrupted("file cannot be opened (permissions?)")
            )
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
        if stat.st_size > self.options.max_file_bytes or self.records.seen_as_is(path, stat):
            return Snapshot(path, file_sha256(path), None)
        try:
            return snapshot(path, self.options.reading_dir)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not path.exists():
                raise
            log.warning("no room to copy %s before reading it: read in place", path)
            return Snapshot(path, file_sha256(path), None)

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
            decision = self.records.claim(
                path, stat.st_size, stat.st_mtime_ns, content_hash, meta, retry_failed, reindex
            )
        except sa.exc.IntegrityError:
            # Another worker inserted the same content a moment ago.
            return IngestResult(path, Outcome.BUSY, "same content is being processed")
        if isinstance(decision, IngestResult):
            return decision
        document_id = decision

        heartbeat = Heartbeat(
            lambda: self.records.touch(document_id), every=self.options.stale_seconds / 3
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

        def prepare() -> tuple[Prepared, str, Embedded]:
            if size > self.options.max_file_bytes:
                limit_mb = self.options.max_file_bytes / 1_000_000
                raise FileRefused(f"file is larger than the {limit_mb:g} MB limit")
            ahead = pipeline.read if pipeline is not None else None
            prepared = self.reader.prepared(read_from, content_hash, ahead, progress)
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

            def commit(embedded: Embedded) -> None:
                self.records.commit(
                    document_id, path, extracted, chunks, embedded, meta, title, files,
                    started=started,
                )  # fmt: skip

            try:
                commit(vectors)
            except EmbedderChanged:
                # The library moved to another embedding model while this file was
                # embedded: its passages are embedded again with that one.
                commit(self._embed(indexed_title(title, path), chunks, None))
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
        fail = partial(self.records.reindex_failed, path) if reindex else self.records.mark_failed
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

    def _read(self, path: Path) -> ReadAhead | None:
        return self.reader.read_ahead(path)

    def close(self) -> None:
        """Stop the reader process."""
        self.reader.extractor.close()

    def retire(self, path: Path) -> IngestResult:
        """The file at `path` is gone: mark the path absent and hide a document that
        no present path holds any more."""
        return self.records.retire(path)

    def release_abandoned(self) -> None:
        """Once the database answers again: the documents whose processing it cut
        off may be taken over by any worker now, not only once they look stale."""
        if not self._abandoned:
            return
        self.records.release(self._abandoned)
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

    def _embed(self, title: str, chunks: list[TextChunk], progress: Progress | None) -> Embedded:
        """The passages' vectors, all from the model the library's vectors come from now."""
        embedder = self.embedder.current()
        texts = [passage_in_context(title, c.section, c.text) for c in chunks]
        parts = []
        for start in range(0, len(texts), _EMBED_SLICE):
            parts.append(embedder.embed(texts[start : start + _EMBED_SLICE]))
            if progress is not None:
                progress(min(start + _EMBED_SLICE, len(texts)), len(texts))
        return Embedded(np.concatenate(parts), embedder.space)

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


@dataclass(frozen=True)
class _Asked:
    """What `ingest_file` was asked besides the path."""

    retry_failed: bool
    document_type: str | None
    tags: tuple[str, ...]
    progress: Progress | None
    reindex: bool


@dataclass(frozen=True)
class _Pipeline:
    """For `ingest_paths`: this file's passages if they were read ahead, how to start
    reading the next one once this one turns out to need work, and how to wait for a
    file of the same content still being stored."""

    read: Future[ReadAhead | None] | None
    this_file_has_work: Callable[[], None]
    settle: Callable[[str], None]


@dataclass(frozen=True)
class _Storing:
    """What is left of a file once it is embedded: storing it."""

    content_hash: str
    run: Callable[[], IngestResult]
