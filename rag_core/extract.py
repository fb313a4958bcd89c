"""File -> pages of text, page numbers kept.

PDF through PDFium (`rag_core.pdftext`), cleaned (`rag_core.cleaning`), with the
headings where its sections start (`rag_core.structure`); .txt and .md as one
page-less text.  Every failure is an
`ExtractionFailed`/`UnsupportedFile` whose message names the reason in plain words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from rag_core.cleaning import clean_pdf_page, drop_running_lines, normalise_unicode, vocabulary
from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.pdftext import read_pdf
from rag_core.structure import Fragment, Heading, outline_headings, typeset_headings

log = logging.getLogger(__name__)

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
        pages, title, structure = _extract_pdf(path, max_pages, max_chars)
        kind = "pdf"
    else:
        if size > max_chars * 4:  # no encoding takes more than 4 bytes a character
            raise ExtractionFailed(_too_many_chars(max_chars))
        pages, title = [Page(None, _read_text(path))], ""
        if len(pages[0].text) > max_chars:
            raise ExtractionFailed(_too_many_chars(max_chars))
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
    pages = [Page(p.number, normalize_text(p.text)) for p in pages]
    if kind == "pdf":
        pages = _with_headings(clean_pdf_pages(pages), structure)
    if not any(p.text.strip() for p in pages):
        reason = "no extractable text — scanned PDF?" if kind == "pdf" else "no text in file"
        raise ExtractionFailed(reason)
    return Extracted(pages=pages, title=title or _title_from_name(path), document_type=kind)


def _too_many_chars(max_chars: int) -> str:
    return f"more than {max_chars:,} characters of text (the limit)"


@dataclass(frozen=True)
class _PdfStructure:
    outline: list[tuple[int, int, str]]  # (0-based page, depth, title)
    fragments: list[list[Fragment]]  # per page, when there is no outline


def _with_headings(pages: list[Page], structure: _PdfStructure) -> list[Page]:
    texts = [p.text for p in pages]
    if structure.outline:
        headings = outline_headings(structure.outline, texts)
    else:
        headings = typeset_headings(structure.fragments, texts)
    return [Page(p.number, p.text, tuple(found)) for p, found in zip(pages, headings, strict=True)]


def _extract_pdf(
    path: Path, max_pages: int, max_chars: int
) -> tuple[list[Page], str, _PdfStructure]:
    try:
        read = read_pdf(path, max_pages, max_chars)
    except RecursionError as exc:
        raise ExtractionFailed("malformed PDF (its structure loops)") from exc
    pages = [Page(number, text) for number, text in enumerate(read.pages, start=1)]
    return pages, read.title, _PdfStructure(read.outline, read.lines)


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


def clean_pdf_pages(pages: list[Page]) -> list[Page]:
    """PDF pages without hyphenation, split table rows, dot leaders, running headers
    and footers (`rag_core.cleaning`)."""
    words = vocabulary([p.text for p in pages])
    texts = drop_running_lines([normalize_text(clean_pdf_page(p.text, words)) for p in pages])
    return [Page(p.number, text) for p, text in zip(pages, texts, strict=True)]


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
