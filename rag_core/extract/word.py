"""Word (.docx): paragraphs and tables in reading order, headings from the heading
styles (cited by section), tables row by row; title from the core properties or the
first heading.  Macros, images and embedded objects are never opened."""

from __future__ import annotations

import re
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

_HEADING_STYLE = re.compile(r"heading (\d)", re.IGNORECASE)


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    import docx
    from docx.table import Table

    check_package(path)
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises many kinds for a damaged package
        raise ExtractionFailed("damaged or unreadable Word document") from exc
    text = TextBuilder()
    first_heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in _rows(block):
                text.add(row)
        else:
            level = _heading_level(block)
            if level is None:
                text.add(block.text)
            else:
                text.heading(level, block.text)
                first_heading = first_heading or block.text.strip()
        if text.chars > max_chars:
            raise FileRefused(too_many_chars(max_chars))
    title = usable_title(document.core_properties.title or "") or first_heading
    return Extracted([text.page()], title, "docx")


def _heading_level(paragraph: Any) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) - 1 if match else None


def _rows(table: Any) -> list[str]:
    return [table_row(cell.text for cell in row.cells) for row in table.rows]
