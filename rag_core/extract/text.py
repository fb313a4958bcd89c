"""Plain text and Markdown: one page-less text, decoded as UTF-8, UTF-16 or the
Windows code page office PCs write."""

from __future__ import annotations

from pathlib import Path

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.common import Extracted, Page, normalize_text, refuse_larger_than
from rag_core.extract.pdftext import too_many_chars

_TEXT_BYTES = bytes(b for b in range(256) if (b >= 0x20 and b != 0x7F) or b in b"\t\n\r\f")


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    text = read_text(path, max_chars)
    kind = "markdown" if path.suffix.lower() in {".md", ".markdown"} else "text"
    return Extracted([Page(None, normalize_text(text))], "", kind)


def read_text(path: Path, max_chars: int) -> str:
    """The file decoded; refused when it is binary or longer than `max_chars`."""
    refuse_larger_than(path, max_chars)
    text = decode(path.read_bytes())
    if len(text) > max_chars:
        raise FileRefused(too_many_chars(max_chars))
    return text


def decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ExtractionFailed("damaged UTF-16 text") from exc
    # Binary when one byte in 20 is a control character; a stray NUL in text is not.
    head = raw[:8192]
    if len(head.translate(None, _TEXT_BYTES)) * 20 > len(head):
        raise ExtractionFailed("binary content, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows-1252 decodes any byte string and is what office PCs write as "ANSI".
        return raw.decode("cp1252", errors="replace")
