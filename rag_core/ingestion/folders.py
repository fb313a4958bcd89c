"""What a file's place in the drop folder says about it.

- Its first subfolder is its document type: drop/contracts/acme.pdf -> "contracts".
- An optional sidecar `<file>.meta.json` gives `title`, `tags`, `metadata` and
  `document_type`; editing it later updates the document without re-embedding it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class FolderMeta:
    document_type: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    sidecar_mtime_ns: int | None = None

    def title_for(self, path: Path, own: str = "") -> str:
        """The document's title: the sidecar's, else the one the file carries (`own`,
        see `extract.common.usable_title`), else the file's name."""
        return self.title or own or path.name


def indexed_title(title: str, path: Path) -> str:
    """What a document's passages are embedded and found under: its title and, when
    that is not the file's name, the name too.  People name files by what they look
    for: "ADOBE_2015_10K.pdf" carries "ADBE 10K FY15" as its own title."""
    return title if title == path.name else f"{title} · {path.name}"


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIX)


def document_of_sidecar(path: Path) -> Path:
    return path.with_name(path.name[: -len(SIDECAR_SUFFIX)])


def folder_meta(path: Path, drop_dir: Path | None) -> FolderMeta:
    document_type = None
    if drop_dir is not None:
        try:
            parts = path.relative_to(drop_dir).parts
        except ValueError:
            parts = ()
        if len(parts) > 1:
            document_type = parts[0]
    sidecar = sidecar_path(path)
    try:
        mtime = sidecar.stat().st_mtime_ns
    except OSError:
        return FolderMeta(document_type=document_type)
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable sidecar %s: %s", sidecar, exc)
        return FolderMeta(
            document_type=document_type,
            metadata={"sidecar_error": f"{sidecar.name} is not a valid JSON object"},
            sidecar_mtime_ns=mtime,
        )
    tags = data.get("tags", [])
    metadata = data.get("metadata", {})
    return FolderMeta(
        document_type=str(data.get("document_type") or document_type or "") or None,
        title=str(data["title"]) if data.get("title") else None,
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        metadata=metadata if isinstance(metadata, dict) else {},
        sidecar_mtime_ns=mtime,
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a hidden name in the same folder, then a
    rename; the watcher ignores hidden files and sees the finished file appear."""
    fd, temporary = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
