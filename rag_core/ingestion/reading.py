"""A file read (in the reader process, under its limits) and cut into passages, with the
seconds each step took; also ahead of its turn, so `Ingestor.ingest_paths` reads the next
file while it embeds this one."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import ExtractionFailed, RagError
from rag_core.extract import Extracted
from rag_core.ingestion.chunking import TextChunk, TokenCounter, chunk_pages
from rag_core.ingestion.files import snapshot
from rag_core.ingestion.isolation import IsolatedExtractor
from rag_core.ingestion.results import IngestOptions, Progress


@dataclass(frozen=True)
class Prepared:
    """A file read and cut into passages, with the seconds each took."""

    extracted: Extracted
    chunks: list[TextChunk]
    stages: dict[str, float]


@dataclass(frozen=True)
class ReadAhead:
    content_hash: str
    result: Prepared | Exception


class PassageReader:
    def __init__(
        self,
        extractor: IsolatedExtractor,
        count_tokens: TokenCounter,
        options: IngestOptions,
    ) -> None:
        self.extractor = extractor
        self.count_tokens = count_tokens
        self.options = options

    def prepare(self, path: Path, progress: Progress | None = None) -> Prepared:
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
            self.count_tokens,
            self.options.chunk_tokens,
            self.options.chunk_overlap_tokens,
        )
        if not chunks:
            raise ExtractionFailed("no text in file")
        cut = time.perf_counter()
        return Prepared(extracted, chunks, {"extract": read - clock, "chunk": cut - read})

    def read_ahead(self, path: Path) -> ReadAhead | None:
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
            return ReadAhead(reading.sha256, self.prepare(reading.path))
        except RagError as exc:
            return ReadAhead(reading.sha256, exc)
        finally:
            reading.remove()

    def prepared(
        self,
        path: Path,
        content_hash: str,
        ahead: Future[ReadAhead | None] | None,
        progress: Progress | None = None,
    ) -> Prepared:
        """The file's passages: read ahead if they were, and of this same content."""
        read = ahead.result() if ahead is not None else None
        if read is None or read.content_hash != content_hash:
            return self.prepare(path, progress)
        if isinstance(read.result, Exception):
            raise read.result
        return read.result
