"""File -> pages of text, page numbers kept.

PDF through PDFium (`rag_core.pdftext`), cleaned (`rag_core.cleaning`), with the
headings where its sections start (`rag_core.structure`); .txt and .md as one
page-less text.  Every failure is an
`ExtractionFailed`/`UnsupportedFile` whose message names the reason in plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rag_core.cleaning import clean_pdf_page, drop_running_lines, normalise_unicode, vocabulary
from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.pdftext import read_pdf, too_many_chars
from rag_core.structure import Heading, outline_headings, typeset_headings

PDF_SUFFIXES = frozenset({".pdf"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES


@dataclass(frozen=True)
class Page:
    """Text of one page; `number` is 1-based, None for formats without pages;
    `headings`: the sections that start on it (`rag_core.structure`)."""

    number: int | None
    text: str
    headings: tuple[Heading, ...] = ()


@dataclass(frozen=True)
class Extracted:
    pages: list[Page]
    title: str
    document_type: str  # "pdf", "text" or "markdown"

    @property
    def page_count(self) -> int | None:
        return None if self.pages and self.pages[0].number is None else len(self.pages)


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def extract(path: Path, max_pages: int = 100_000, max_chars: int = 1_000_000_000) -> Extracted:
    """Read a file into pages.  Raises UnsupportedFile or ExtractionFailed (also when
    the file has more than `max_pages` pages or `max_chars` characters of text)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedFile(f"unsupported file type '{suffix or path.name}' (we read {kinds})")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ExtractionFailed("file cannot be opened") from exc
    if size == 0:
        raise ExtractionFailed("empty file")
    if suffix in PDF_SUFFIXES:
        pages, title = _extract_pdf(path, max_pages, max_chars)
        kind = "pdf"
    else:
        if size > max_chars * 4:  # no encoding takes more than 4 bytes a character
            raise ExtractionFailed(too_many_chars(max_chars))
        text = _read_text(path)
        if len(text) > max_chars:
            raise ExtractionFailed(too_many_chars(max_chars))
        pages, title = [Page(None, normalize_text(text))], ""
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
    if not any(p.text.strip() for p in pages):
        reason = "no extractable text — scanned PDF?" if kind == "pdf" else "no text in file"
        raise ExtractionFailed(reason)
    return Extracted(pages=pages, title=title or _title_from_name(path), document_type=kind)


def _extract_pdf(path: Path, max_pages: int, max_chars: int) -> tuple[list[Page], str]:
    """A PDF's pages, cleaned, each with the headings that start on it (from the
    outline when the file has one, else from the type), and its title."""
    try:
        read = read_pdf(path, max_pages, max_chars)
    except RecursionError as exc:
        raise ExtractionFailed("malformed PDF (its structure loops)") from exc
    normalized = [normalize_text(text) for text in read.pages]
    words = vocabulary(normalized)
    texts = drop_running_lines([normalize_text(clean_pdf_page(t, words)) for t in normalized])
    if read.outline:
        headings = outline_headings(read.outline, texts)
    else:
        headings = typeset_headings(read.lines, texts)
    pages = [
        Page(number, text, tuple(found))
        for number, (text, found) in enumerate(zip(texts, headings, strict=True), start=1)
    ]
    return pages, read.title


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ExtractionFailed("damaged UTF-16 text") from exc
    if b"\x00" in raw[:8192]:
        raise ExtractionFailed("binary content, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows-1252 decodes any byte string and is what office PCs write as "ANSI".
        return raw.decode("cp1252", errors="replace")


_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Unicode in compatibility form; runs of spaces and blank lines collapsed,
    paragraph breaks kept."""
    text = normalise_unicode(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
