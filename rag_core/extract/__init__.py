"""File -> pages of text, with the unit a person finds a passage by (page, section,
slide, sheet rows).

One module a format, behind `extract(path)`: PDF (`pdf`), plain text and Markdown
(`text`), Word (`word`), OpenDocument text (`opendocument`), PowerPoint (`slides`),
Excel and CSV (`sheets`), web pages (`web`), e-mail (`mail`: .eml and Outlook .msg).
The format is told by the content where the content says it (a PDF named .docx is
read as a PDF), else by the name.
Every failure is an `ExtractionFailed`/`UnsupportedFile` whose message names the
reason in plain words; every string that comes out is safe to store
(`common.storable`).  Adding a format touches this package and the README's table
only.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rag_core.errors import ExtractionFailed, FileRefused, UnsupportedFile
from rag_core.extract import mail, opendocument, pdf, sheets, slides, text, web, word
from rag_core.extract.common import (
    Extracted,
    Page,
    storable,
    storable_extract,
    usable_title,
)
from rag_core.extract.ocr import OcrOptions, recognise_pages, tesseract

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Extracted",
    "OcrOptions",
    "Page",
    "extract",
    "is_supported",
    "storable",
]

Reader = Callable[[Path, int, int], Extracted]  # (path, max pages, max characters)
READERS: dict[str, Reader] = {
    "pdf": pdf.read,
    "text": text.read,
    "docx": word.read,
    "odt": opendocument.read,
    "pptx": slides.read,
    "xlsx": sheets.read_xlsx,
    "csv": sheets.read_csv,
    "html": web.read,
    "email": mail.read,
    "msg": mail.read_msg,
}
FORMAT_OF_SUFFIX = {
    ".pdf": "pdf",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".markdown": "text",
    ".docx": "docx",
    ".odt": "odt",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".eml": "email",
    ".msg": "msg",
}
SUPPORTED_SUFFIXES = frozenset(FORMAT_OF_SUFFIX)
_PACKAGE_PARTS = {"word/document.xml": "docx", "ppt/presentation.xml": "pptx"}
_PACKAGE_PARTS["xl/workbook.xml"] = "xlsx"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_MESSAGE_PROPERTY = "__substg1.0_".encode("utf-16-le")  # a stream name only .msg files have


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def extract(
    path: Path,
    max_pages: int = 100_000,
    max_chars: int = 1_000_000_000,
    ocr: OcrOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Extracted:
    """Read a file into pages.  Raises UnsupportedFile or ExtractionFailed (also when
    the file has more than `max_pages` pages or `max_chars` characters of text).
    With `ocr`, PDF pages without text are recognised from their images, calling
    `progress(pages done, pages to do)` before each."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedFile(f"unsupported file type '{suffix or path.name}' (we read {kinds})")
    try:
        if path.stat().st_size == 0:
            raise ExtractionFailed("empty file")
        kind = _format_by_content(path) or FORMAT_OF_SUFFIX[suffix]
        extracted = READERS[kind](path, max_pages, max_chars)
        if kind == "pdf" and ocr is not None:
            extracted = recognise_pages(path, extracted, ocr, progress)
        extracted = storable_extract(extracted)
    except OSError as exc:
        raise ExtractionFailed("file cannot be opened") from exc
    if not any(page.text.strip() for page in extracted.pages):
        if kind != "pdf":
            raise ExtractionFailed("no text in file")
        if ocr is None or tesseract() is None:
            raise ExtractionFailed("no extractable text — scanned PDF?")
        raise ExtractionFailed("no text, even recognised from the page images (blank pages?)")
    return replace(extracted, title=usable_title(extracted.title))


def _format_by_content(path: Path) -> str | None:
    """The format the file's first bytes show, when they show one; None for text."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as package:
                names = set(package.namelist())
        except zipfile.BadZipFile as exc:
            raise ExtractionFailed("damaged file (its zip container cannot be read)") from exc
        for part, kind in _PACKAGE_PARTS.items():
            if part in names:
                return kind
        # An OpenDocument package names its type in its first, uncompressed part.
        if opendocument.MIME_TYPE.encode() in head:
            return "odt"
        if b"application/vnd.oasis.opendocument." in head:
            raise UnsupportedFile(
                "an OpenDocument spreadsheet or presentation: save it as .xlsx or .pptx"
            )
        raise UnsupportedFile("a zip archive, not a document we read (unpack it first)")
    if head.startswith(_OLE):
        with path.open("rb") as handle:
            start = handle.read(4_000_000)
        if _ENCRYPTED_PACKAGE in start:
            raise FileRefused("password-protected Office file (a password is needed)")
        if _MESSAGE_PROPERTY in start or path.suffix.lower() == ".msg":
            return "msg"
        raise UnsupportedFile(
            "an older Office file (.doc, .xls, .ppt): save it as .docx, .xlsx or .pptx "
            "and drop that"
        )
    return None
