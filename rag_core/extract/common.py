"""What every format reader makes (pages of text), and the rules they share: text
normalised, characters PostgreSQL cannot store taken out, Office packages checked
before they are unpacked."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.cleaning import normalise_unicode
from rag_core.extract.pdftext import too_many_chars
from rag_core.extract.structure import Heading, tidy_title

# An Office file (a zip) may unpack to at most this much, and no part of it may be
# packed tighter than this: a few kilobytes that unpack to gigabytes are a zip bomb.
MAX_UNPACKED_BYTES = 400_000_000
MAX_PACKING_RATIO = 200
MAX_ROWS = 200_000  # rows read from one spreadsheet, in all sheets


@dataclass(frozen=True)
class Page:
    """Text of one page; `number` is 1-based, None for formats without pages;
    `headings`: the sections that start on it (`rag_core.extract.structure`).  Formats with
    other units (slides, sheet rows) name the unit in a heading: "Slide 3: Budget"."""

    number: int | None
    text: str
    headings: tuple[Heading, ...] = ()
    # Its text layer is empty or broken glyphs (judged before cleaning, which may take
    # out a short page's recurring lines): `ocr` reads its image.
    scanned: bool = False
    recognised: bool = False  # text read from the page's image (OCR): to be checked


@dataclass(frozen=True)
class Attachment:
    """A file that came inside another (an e-mail's attachment), to be a document of
    its own: its name as sent (no folders), and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Extracted:
    pages: list[Page]
    # From the file itself (PDF metadata, core properties, first heading, subject) when
    # `usable_title`; else "" and the document is called by its file's name.
    title: str
    document_type: str  # "pdf", "text", "markdown", "docx", "pptx", "xlsx", "csv", ...
    attachments: tuple[Attachment, ...] = ()  # of a type we read

    @property
    def page_count(self) -> int | None:
        return None if self.pages and self.pages[0].number is None else len(self.pages)


_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# What PostgreSQL's text refuses (NUL, SQLSTATE 22P05), what UTF-8 cannot encode (lone
# surrogates), and control characters that are never text (tabs, line and page breaks
# stay: normalising turns them into spaces and new lines).
_UNSTORABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` without the characters the database cannot store or that are no text."""
    return _UNSTORABLE.sub(lambda m: "" if m.group() < "\ud800" else "\ufffd", text)


def normalize_text(text: str) -> str:
    """Unicode in compatibility form; runs of spaces and blank lines collapsed,
    paragraph breaks kept."""
    text = normalise_unicode(text)
    text = storable(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def storable_extract(extracted: Extracted) -> Extracted:
    """Every string a reader made, safe to store: page text, headings, title."""
    pages = [
        replace(
            page,
            text=storable(page.text),
            headings=tuple(replace(h, title=storable(h.title)) for h in page.headings),
        )
        for page in extracted.pages
    ]
    return replace(extracted, pages=pages, title=storable(extracted.title).strip())


def table_row(cells: Iterable[str]) -> str:
    """A table's row as "cell | cell | cell": spacing collapsed, empty cells left out,
    a merged cell (repeated in each column it spans) once."""
    kept: list[str] = []
    for cell in cells:
        value = " ".join(cell.split())
        if value and (not kept or kept[-1] != value):
            kept.append(value)
    return " | ".join(kept)


def refuse_larger_than(path: Path, max_chars: int) -> None:
    """A text file (or message) whose bytes could not hold fewer than `max_chars`
    characters is refused before it is read: no encoding takes over 4 bytes a char."""
    if path.stat().st_size > max_chars * 4:
        raise FileRefused(too_many_chars(max_chars))


# The words writers put in a file's title when nobody gave it one ("Untitled1",
# "New Microsoft Word Document", "Scanned document 3").
_PLACEHOLDER_WORDS = frozenset(
    re.findall(
        r"\w+",
        "untitled no title document doc new microsoft word excel powerpoint presentation "
        "slide book workbook sheet spreadsheet scan scanned image img pdf print unknown "
        "draft final template default page file copy of",
    )
)
_APPLICATION_PREFIX = re.compile(r"^microsoft (word|excel|powerpoint) - ", re.IGNORECASE)
_FILE_NAME = re.compile(r"\.(docx?|xlsx?|pptx?|pdf|txt|rtf|odt|html?)$", re.IGNORECASE)
MAX_TITLE_CHARS = 200


def usable_title(title: str) -> str:
    """The title a file carries, when a person would take it for one; else "".

    Real files carry placeholders ("Document", "Untitled1"), the application and
    file name ("Microsoft Word - draft3.docx") or a filing number
    ("0001018724-20-000004": most SEC filings): the file's name says more."""
    title = " ".join(title.split())
    if _APPLICATION_PREFIX.match(title) or _FILE_NAME.search(title):
        return ""
    visible = [c for c in title if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    if (
        letters < 3
        or letters * 2 < len(visible)
        or len(title) > MAX_TITLE_CHARS
        or set(re.findall(r"[^\W\d_]+", title.lower())) <= _PLACEHOLDER_WORDS
    ):
        return ""
    return title


def check_package(path: Path) -> None:
    """Refuse an Office file that would unpack to too much before any part is read."""
    try:
        with zipfile.ZipFile(path) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtractionFailed("damaged file (its zip container cannot be read)") from exc
    total = sum(member.file_size for member in members)
    if total > MAX_UNPACKED_BYTES:
        raise FileRefused(
            f"unpacks to {total / 1e6:,.0f} MB, over the {MAX_UNPACKED_BYTES / 1e6:,.0f} MB limit"
        )
    for member in members:
        if member.file_size > 1_000_000 and member.file_size > MAX_PACKING_RATIO * max(
            member.compress_size, 1
        ):
            ratio = member.file_size // max(member.compress_size, 1)
            raise FileRefused(
                f"a part ({member.filename}) unpacks {ratio:,} times larger than it is "
                "stored: a zip bomb, not read"
            )


class TextBuilder:
    """Text put together from blocks (paragraphs, table rows, headings), each
    normalised, with where each heading starts."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[Heading] = []

    def heading(self, level: int, title: str) -> None:
        title = tidy_title(normalize_text(title))
        if title:
            self._headings.append(Heading(self._length, level, title))
            self.add(title)

    def add(self, text: str) -> None:
        text = normalize_text(text)
        if text:
            self._parts.append(text)
            self._length += len(text) + 2  # joined by a blank line

    @property
    def chars(self) -> int:
        return self._length

    def page(self, number: int | None = None) -> Page:
        return Page(number, "\n\n".join(self._parts), tuple(self._headings))
