"""Files that came inside another (an e-mail's attachments) kept as documents of their
own.

When a message is stored, each attachment of a type we read is written to
`<data>/attachments/<message name>-<its content hash>/<attachment name>` with a
sidecar that names the message (`attachment_of`, `message`) and carries the message's
document type and tags, and is then ingested like any file: read by its own reader
(scans recognised), searched and cited by its own pages, stored once when the same
file was also dropped.  The folder is outside the drop folder, so the watcher's
rescan leaves it alone; its files are present exactly while the message is
(`records._refresh_documents`), so deleting, retiring or replacing the message takes
its attachments out of search with it, and its return brings them back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rag_core.extract.common import Attachment
from rag_core.ingestion.folders import FolderMeta, sidecar_path, write_atomically

MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def attachment_folder(root: Path, message: Path, content_hash: str) -> Path:
    """Where the attachments of the message with this content are kept."""
    return root / f"{_safe(message.stem)[:60]}-{content_hash[:12]}"


def save_attachments(
    folder: Path,
    attachments: tuple[Attachment, ...],
    *,
    message_document_id: int,
    message_title: str,
    meta: FolderMeta,
) -> list[Path]:
    """Write each attachment (and its sidecar, unless one is there: an edit made to
    it in the app stays) into `folder`; their paths, in the message's order.  A name
    sent twice gets a number: "order (2).pdf"."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for attachment in attachments:
        name = _safe(attachment.name)
        path = folder / name
        number = 2
        while path in paths:
            path = folder / f"{Path(name).stem} ({number}){Path(name).suffix}"
            number += 1
        paths.append(path)
        if not (path.is_file() and path.read_bytes() == attachment.data):
            write_atomically(path, attachment.data)
        sidecar = sidecar_path(path)
        if not sidecar.exists():
            details = {
                "document_type": meta.document_type,
                "tags": list(meta.tags),
                "metadata": {"attachment_of": message_document_id, "message": message_title},
            }
            write_atomically(sidecar, json.dumps(details, indent=2).encode() + b"\n")
    return paths


def _safe(name: str) -> str:
    """A plain file name made of what the sender called it: no folders, nothing
    hidden, no characters a file system refuses, not too long."""
    name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    suffix = Path(name).suffix[:10]
    stem = name[: len(name) - len(suffix)] if suffix else name
    return (stem[: MAX_NAME_CHARS - len(suffix)] or "attachment") + suffix
