"""OpenDocument text (.odt, LibreOffice's own format), read by odfpy: paragraphs,
lists and tables in reading order, headings from their outline level (cited by
section), tables row by row; title from the document's properties or the first
heading.  Macros and embedded objects are never opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.common import (
    Extracted,
    TextBuilder,
    check_package,
    table_row,
    usable_title,
)
from rag_core.extract.pdftext import too_many_chars

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_CONTAINERS = {
    (_TEXT, "list"),
    (_TEXT, "list-item"),
    (_TEXT, "list-header"),
    (_TEXT, "section"),
    (_TABLE, "table-header-rows"),
    (_TABLE, "table-rows"),
}
MIME_TYPE = "application/vnd.oasis.opendocument.text"


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    from odf import opendocument

    check_package(path)
    try:
        document = opendocument.load(str(path))
    except Exception as exc:  # odfpy raises many kinds for a damaged package
        raise ExtractionFailed("damaged or unreadable OpenDocument text") from exc
    text = TextBuilder()
    headings: list[str] = []
    _walk(document.text, text, headings, max_chars)
    title = usable_title(_meta_title(document)) or (headings[0] if headings else "")
    return Extracted([text.page()], title, "odt")


def _walk(element: Any, text: TextBuilder, headings: list[str], max_chars: int) -> None:
    from odf import teletype

    for node in element.childNodes:
        name = getattr(node, "qname", None)
        if name == (_TEXT, "h"):
            title = teletype.extractText(node)
            level = node.getAttribute("outlinelevel")
            text.heading(max(0, int(level) - 1) if str(level).isdigit() else 0, title)
            headings.append(" ".join(title.split()))
        elif name == (_TEXT, "p"):
            text.add(teletype.extractText(node))
        elif name == (_TABLE, "table-row"):
            cells = [
                c for c in node.childNodes if getattr(c, "qname", None) == (_TABLE, "table-cell")
            ]
            text.add(table_row(teletype.extractText(cell) for cell in cells))
        elif name == (_TABLE, "table") or name in _CONTAINERS:
            _walk(node, text, headings, max_chars)
        if text.chars > max_chars:
            raise FileRefused(too_many_chars(max_chars))


def _meta_title(document: Any) -> str:
    from odf import teletype

    for node in document.meta.childNodes:
        if getattr(node, "qname", None) == ("http://purl.org/dc/elements/1.1/", "title"):
            return str(teletype.extractText(node))
    return ""
