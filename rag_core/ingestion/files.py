"""The files ingestion reads: folders walked, contents hashed, and the private copy read
as it was hashed (`snapshot`), so a file rewritten mid-read is never read half old, half
new."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag_core.extract import is_supported
from rag_core.ingestion.folders import is_sidecar


def not_a_file_reason(path: Path) -> str:
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
