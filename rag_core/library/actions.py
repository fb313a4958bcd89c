"""What staff do to the library from the browser: upload, edit, retire, restore and
re-index files.

The drop folder stays the one source of truth, so the watcher, the command line and
the app never disagree and nothing is lost:
- an upload is a file written into the drop folder (atomically, under a hidden
  temporary name first, so the watcher never reads half a file);
- an edit of title, type or tags is the file's sidecar `<file>.meta.json`, so it
  survives re-ingesting and rebuilding the database;
- retiring moves the file (and its sidecar) to `<drop>/.retired/`, which the watcher
  ignores; restoring moves it back.  Nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rag_core.access.audit import Action, AuditTrail
from rag_core.db import FileRecord
from rag_core.errors import RagError
from rag_core.extract import SUPPORTED_SUFFIXES, is_supported
from rag_core.ingestion.files import file_sha256
from rag_core.ingestion.folders import is_sidecar, sidecar_path, write_atomically
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.jobs import JobQueue
from rag_core.ingestion.results import IngestResult

log = logging.getLogger(__name__)

RETIRED_FOLDER = ".retired"


class LibraryActionRefused(RagError):
    """An upload, edit, retire or restore that cannot be done; says why."""


@dataclass(frozen=True)
class Upload:
    path: Path
    duplicate_of: Path | None = None  # same name and content already there: not written


@dataclass(frozen=True)
class RetiredFile:
    path: Path  # where it is kept now
    original: Path  # where it goes back to
    retired_at: datetime


class Library:
    def __init__(
        self,
        drop_dir: Path,
        ingestor: Ingestor,
        queue: JobQueue,
        max_file_bytes: int,
        audit: AuditTrail | None = None,
    ) -> None:
        self.audit = audit or AuditTrail(ingestor.db)
        self.drop_dir = drop_dir.absolute()
        self.retired_dir = self.drop_dir / RETIRED_FOLDER
        self.ingestor = ingestor
        self.queue = queue
        self.max_file_bytes = max_file_bytes

    # --- upload -------------------------------------------------------------------------

    def upload(
        self, name: str, data: bytes, folder: str | None = None, *, by: str | None = None
    ) -> Upload:
        """Save an uploaded file into the drop folder (in `folder`, which names its
        document type) and queue it.  A file of the same name is never overwritten: a
        new name like "report (2).pdf" is used, unless the content is the same."""
        filename = _plain_name(name, "file name")
        target_dir = self.drop_dir / _plain_name(folder, "folder") if folder else self.drop_dir
        if not is_supported(Path(filename)) or is_sidecar(Path(filename)):
            kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise LibraryActionRefused(f"{filename}: only these file types are read: {kinds}.")
        if len(data) > self.max_file_bytes:
            raise LibraryActionRefused(
                f"{filename} is {len(data) / 1e6:.1f} MB; the limit is "
                f"{self.max_file_bytes / 1e6:g} MB."
            )
        if not data:
            raise LibraryActionRefused(f"{filename} is empty.")
        target = target_dir / filename
        digest = hashlib.sha256(data).hexdigest()
        for candidate in _free_names(target):
            if not candidate.exists():
                break
            if file_sha256(candidate) == digest:
                return Upload(candidate, duplicate_of=candidate)
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(candidate, data)
        except OSError as exc:
            log.warning("cannot save upload %s: %r", candidate, exc)
            raise LibraryActionRefused(
                f"{filename} could not be saved in the drop folder ({_reason(exc)})."
            ) from exc
        self.queue.enqueue(candidate)
        log.info("uploaded %s (%d bytes)", candidate, len(data))
        self.audit.record(by, Action.UPLOAD, {"path": str(candidate), "bytes": len(data)})
        return Upload(candidate)

    # --- edit ---------------------------------------------------------------------------

    def edit(
        self,
        source: Path,
        *,
        title: str,
        document_type: str,
        tags: Sequence[str],
        by: str | None = None,
    ) -> IngestResult:
        """Set a file's title, type and tags (blank title or type: back to the file name
        or folder).  Written to its sidecar and applied at once, without re-embedding."""
        source = self._present(source)
        sidecar = sidecar_path(source)
        data: dict[str, Any] = {}
        if sidecar.exists():
            try:
                loaded = json.loads(sidecar.read_text(encoding="utf-8"))
                data = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                log.warning("replacing unreadable sidecar %s", sidecar)
        for key, value in (("title", title.strip()), ("document_type", document_type.strip())):
            if value:
                data[key] = value
            else:
                data.pop(key, None)
        data["tags"] = sorted({tag.strip() for tag in tags if tag.strip()})
        try:
            write_atomically(sidecar, json.dumps(data, indent=2).encode() + b"\n")
        except OSError as exc:
            log.warning("cannot write %s: %r", sidecar, exc)
            raise LibraryActionRefused(
                f"The details of {source.name} could not be saved ({_reason(exc)})."
            ) from exc
        self.audit.record(by, Action.EDIT, {"path": str(source), **data})
        return self.ingestor.ingest_file(source)

    # --- retire and restore -------------------------------------------------------------

    def retire(self, source: Path, *, by: str | None = None) -> RetiredFile:
        """Take a file out of search by moving it (and its sidecar) into the drop
        folder's `.retired/` folder, where it is kept and can be restored."""
        source = self._present(source)
        kept = self.ingestor.options.attachments_dir
        if kept is not None and source.is_relative_to(kept):
            raise LibraryActionRefused(
                f"{source.name} came attached to an e-mail: retire the message, and its "
                "attachments leave search with it."
            )
        if not source.is_relative_to(self.drop_dir):
            raise LibraryActionRefused(
                f"{source.name} was added from outside the drop folder, so it cannot be "
                "retired here; remove it with the command line."
            )
        relative = source.relative_to(self.drop_dir)
        target = next(p for p in _free_names(self.retired_dir / relative) if not p.exists())
        self._move(source, target)
        self.ingestor.retire(source)
        log.info("retired %s to %s", source, target)
        self.audit.record(by, Action.RETIRE, {"path": str(source), "kept_at": str(target)})
        return RetiredFile(target, source, datetime.now(UTC))

    def retired(self) -> list[RetiredFile]:
        """Files retired from the app, newest first."""
        found = []
        if self.retired_dir.is_dir():
            for path in self.retired_dir.rglob("*"):
                if path.is_file() and not is_sidecar(path):
                    found.append(
                        RetiredFile(
                            path,
                            self.drop_dir / path.relative_to(self.retired_dir),
                            datetime.fromtimestamp(path.stat().st_ctime, UTC),
                        )
                    )
        return sorted(found, key=lambda f: (f.retired_at, str(f.path)), reverse=True)

    def restore(self, retired: Path, *, by: str | None = None) -> Path:
        """Move a retired file back to where it was and queue it."""
        retired = retired.absolute()
        if not retired.is_relative_to(self.retired_dir) or not retired.is_file():
            raise LibraryActionRefused(f"{retired.name} is not among the retired files.")
        original = self.drop_dir / retired.relative_to(self.retired_dir)
        if original.exists():
            raise LibraryActionRefused(
                f"{original.name} cannot be restored: a file of that name is in its folder "
                "again. Rename one of them first."
            )
        self._move(retired, original)
        self.queue.enqueue(original)
        log.info("restored %s", original)
        self.audit.record(by, Action.RESTORE, {"path": str(original)})
        return original

    # --- re-index -----------------------------------------------------------------------

    def reindex(self, source: Path, *, by: str | None = None) -> None:
        """Queue a file to be read and embedded again even though it is unchanged; its
        current passages stay searchable until the new ones are in."""
        source = self._present(source)
        self.queue.enqueue(source, force=True, reindex=True)
        self.audit.record(by, Action.REINDEX, {"path": str(source)})

    def reindex_all(self, *, by: str | None = None) -> list[Path]:
        """Queue every file the library holds to be read again (after an upgrade that
        reads more from a file, such as its table rows); returns the paths queued."""
        with self.ingestor.db.session() as session:
            paths = session.scalars(
                sa.select(FileRecord.path)
                .where(FileRecord.present, FileRecord.document_id.is_not(None))
                .order_by(FileRecord.path)
            ).all()
        queued = []
        for path in map(Path, paths):
            if path.is_file():
                self.reindex(path, by=by)
                queued.append(path)
        return queued

    # --- helpers ------------------------------------------------------------------------

    def _present(self, source: Path) -> Path:
        source = source.absolute()
        if not source.is_file():
            raise LibraryActionRefused(
                f"{source.name} is no longer in its folder; it may have been moved or removed."
            )
        return source

    def _move(self, source: Path, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if sidecar_path(source).exists():
                shutil.move(sidecar_path(source), sidecar_path(target))
            shutil.move(source, target)
        except OSError as exc:
            log.warning("cannot move %s to %s: %r", source, target, exc)
            raise LibraryActionRefused(
                f"{source.name} could not be moved ({_reason(exc)})."
            ) from exc


def _plain_name(name: str, what: str) -> str:
    """One path component a person would recognise: no folders, nothing hidden."""
    plain = Path(name.replace("\\", "/")).name.strip()
    if not plain or plain.startswith(".") or plain != name.strip():
        raise LibraryActionRefused(
            f"{name!r} is not a usable {what}: use a plain name, not a path or a hidden name."
        )
    return plain


def _free_names(path: Path) -> list[Path]:
    """`path`, then "name (2).ext", "name (3).ext", ...  (a bounded list)."""
    return [path] + [path.with_name(f"{path.stem} ({n}){path.suffix}") for n in range(2, 1000)]


def _reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else "the file system refused"
