"""The soak's drop folder: random operations on it, and what the script knows it holds
(`scripts/soak.py` runs them against a real watcher and checks the library)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

FOLDERS = ("", "contracts", "policies/2026")
WORDS = [
    "invoice",
    "patient",
    "contract",
    "clause",
    "ledger",
    "audit",
    "policy",
    "dosage",
    "ward",
    "tenant",
    "lease",
    "payment",
    "schedule",
    "referral",
    "consent",
    "warranty",
    "liability",
    "premium",
    "claim",
    "deposit",
    "notice",
]


class Folder:
    """The drop folder and what the script knows it holds."""

    def __init__(self, drop: Path, rng: random.Random) -> None:
        self.drop = drop
        self.rng = rng
        self.valid: dict[Path, bytes] = {}  # path: its content now
        self.hostile: set[Path] = set()
        self.old_versions: list[tuple[str, bytes]] = []  # (suffix, content) once written
        self._serial = 0

    def _name(self, suffix: str, hostile: bool = False) -> Path:
        self._serial += 1
        folder = self.drop / self.rng.choice(FOLDERS)
        folder.mkdir(parents=True, exist_ok=True)
        stem = "hostile" if hostile else self.rng.choice(WORDS)
        return folder / f"{stem}-{self._serial}{suffix}"

    def content(self, suffix: str) -> bytes:
        self._serial += 1
        words = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(30, 120)))
        text = f"Soak document {self._serial}. Reference code SOAK{self._serial:06d}. {words}."
        if suffix == ".pdf":
            return pdf(text)
        return text.encode()

    def write(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        self.valid[path] = data
        self.hostile.discard(path)
        self.old_versions.append((path.suffix, data))

    def forget(self, path: Path) -> None:
        self.valid.pop(path, None)
        self.hostile.discard(path)

    def any_file(self) -> Path | None:
        files = sorted(self.valid) + sorted(self.hostile)
        return self.rng.choice(files) if files else None

    def any_valid(self) -> Path | None:
        return self.rng.choice(sorted(self.valid)) if self.valid else None

    # --- the operations ------------------------------------------------------------

    def add(self) -> None:
        suffix = self.rng.choice((".txt", ".md", ".pdf"))
        self.write(self._name(suffix), self.content(suffix))

    def overwrite(self) -> None:
        if (path := self.any_valid()) is not None:
            self.write(path, self.content(path.suffix))

    def overwrite_atomically(self) -> None:
        if (path := self.any_valid()) is None:
            return
        data = self.content(path.suffix)
        temporary = path.with_name(f".{path.name}.tmp")  # hidden: the watcher ignores it
        temporary.write_bytes(data)
        temporary.replace(path)
        self.valid[path] = data
        self.old_versions.append((path.suffix, data))

    def rename(self) -> None:
        if (path := self.any_file()) is None:
            return
        target = path.with_name(f"renamed-{self._serial}-{path.name}")
        self._serial += 1
        self._move(path, target)

    def move(self) -> None:
        if (path := self.any_file()) is None:
            return
        folder = self.drop / self.rng.choice(FOLDERS)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"moved-{self._serial}-{path.name}"
        self._serial += 1
        self._move(path, target)

    def _move(self, path: Path, target: Path) -> None:
        path.rename(target)
        if path in self.valid:
            self.valid[target] = self.valid.pop(path)
        else:
            self.hostile.discard(path)
            self.hostile.add(target)

    def delete(self) -> None:
        if (path := self.any_file()) is not None:
            path.unlink()
            self.forget(path)

    def readd_old_version(self) -> None:
        if self.old_versions:
            suffix, data = self.rng.choice(self.old_versions)
            self.write(self._name(suffix), data)

    def touch(self) -> None:
        if (path := self.any_file()) is not None:
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    def drop_hostile(self) -> None:
        path = self._name(".pdf", hostile=True)
        kind = self.rng.randrange(3)
        if kind == 0:
            path.write_bytes(b"%PDF-1.7\n" + self.rng.randbytes(4000))
        elif kind == 1:
            path.write_bytes(b"")
        else:
            path.write_bytes(self.rng.randbytes(3000))
        self.valid.pop(path, None)
        self.hostile.add(path)


OPERATIONS: dict[str, tuple[int, Callable[[Folder], None]]] = {
    "add": (25, Folder.add),
    "overwrite in place": (14, Folder.overwrite),
    "overwrite by atomic rename": (10, Folder.overwrite_atomically),
    "rename": (10, Folder.rename),
    "move between subfolders": (10, Folder.move),
    "delete": (10, Folder.delete),
    "re-add an old version": (8, Folder.readd_old_version),
    "touch without change": (8, Folder.touch),
    "drop a hostile file": (5, Folder.drop_hostile),
}


def pdf(text: str) -> bytes:
    """A one-page PDF holding `text` (Latin-1, Helvetica), made without a library."""
    lines = [text[i : i + 90] for i in range(0, len(text), 90)]
    shown = "".join(
        f"({line.replace(chr(92), '').replace('(', '').replace(')', '')}) Tj T* " for line in lines
    )
    stream = f"BT /F1 10 Tf 14 TL 50 780 Td {shown}ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)
