"""File -> pages of text, page numbers kept.

PDF through pypdf; .txt and .md as one page-less text.  Every failure is an
`ExtractionFailed`/`UnsupportedFile` whose message names the reason in plain words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError, PdfStreamError

from rag_core.errors import ExtractionFailed, UnsupportedFile

log = logging.getLogger(__name__)

PDF_SUFFIXES = frozenset({".pdf"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES

# pypdf logs every recoverable oddity of a damaged file as a warning; our own log says
# what happened to the file, so keep its chatter out.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Page:
    """Text of one page; `number` is 1-based, None for formats without pages."""

    number: int | None
    text: str


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
            raise ExtractionFailed(_too_many_chars(max_chars))
        pages, title = [Page(None, _read_text(path))], ""
        if len(pages[0].text) > max_chars:
            raise ExtractionFailed(_too_many_chars(max_chars))
        kind = "markdown" if suffix in {".md", ".markdown"} else "text"
    pages = [Page(p.number, normalize_text(p.text)) for p in pages]
    if not any(p.text.strip() for p in pages):
        reason = "no extractable text — scanned PDF?" if kind == "pdf" else "no text in file"
        raise ExtractionFailed(reason)
    return Extracted(pages=pages, title=title or _title_from_name(path), document_type=kind)


def _too_many_chars(max_chars: int) -> str:
    return f"more than {max_chars:,} characters of text (the limit)"


def _extract_pdf(path: Path, max_pages: int, max_chars: int) -> tuple[list[Page], str]:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict
            # printing; those open fine.  Anything else needs a password we do not have.
            try:
                if not reader.decrypt(""):
                    raise ExtractionFailed("encrypted PDF (a password is needed)")
            except NotImplementedError as exc:
                raise ExtractionFailed("encrypted PDF with an unsupported cipher") from exc
        page_count = len(reader.pages)
        if page_count > max_pages:
            raise ExtractionFailed(f"exceeds {max_pages:,} pages ({page_count:,} pages)")
        pages = []
        total = 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            total += len(text)
            if total > max_chars:
                raise ExtractionFailed(_too_many_chars(max_chars))
            pages.append(Page(number, text))
        title = _pdf_title(reader)
    except ExtractionFailed:
        raise
    except FileNotDecryptedError as exc:
        raise ExtractionFailed("encrypted PDF (a password is needed)") from exc
    except LimitReachedError as exc:
        # pypdf's own guard against decompression bombs and runaway content streams.
        log.info("pypdf stopped reading %s: %r", path, exc)
        reason = "PDF is beyond the reader's safety limits (a compression bomb?)"
        raise ExtractionFailed(reason) from exc
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as exc:
        log.info("pypdf could not read %s: %r", path, exc)
        raise ExtractionFailed("damaged or unreadable PDF") from exc
    except RecursionError as exc:
        raise ExtractionFailed("malformed PDF (its structure loops)") from exc
    if not pages:
        raise ExtractionFailed("PDF has no pages")
    return pages, title


def _pdf_title(reader: PdfReader) -> str:
    try:
        meta = reader.metadata
        title = meta.title if meta else None
    except (PdfReadError, ValueError, KeyError, TypeError):
        return ""
    return title.strip() if isinstance(title, str) else ""


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
    """Collapse runs of spaces and blank lines; keep paragraph breaks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
