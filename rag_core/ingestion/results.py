"""What ingestion is given and what it answers: its options, a file's outcome and result,
and the progress callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from rag_core.ingestion.isolation import ExtractionLimits


class Progress(Protocol):
    """Told how far a file is: (passages embedded, of all), or before that, for a
    scan, (scanned pages recognised, of all, "scanned pages")."""

    def __call__(self, done: int, total: int, unit: str = "passages") -> None: ...


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
