"""PowerPoint (.pptx): one unit a slide, cited "Slide N: its title", with the text of
its shapes, tables and speaker notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.common import (
    Extracted,
    Page,
    TextBuilder,
    check_package,
    table_row,
    usable_title,
)
from rag_core.extract.pdftext import too_many_chars


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    from pptx import Presentation

    check_package(path)
    try:
        deck = Presentation(str(path))
    except Exception as exc:  # python-pptx raises many kinds for a damaged package
        raise ExtractionFailed("damaged or unreadable PowerPoint file") from exc
    if len(deck.slides) > max_pages:
        raise FileRefused(f"more than {max_pages:,} slides (the limit)")
    pages: list[Page] = []
    titles: list[str] = []
    chars = 0
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        titles.append(title)
        text = TextBuilder()
        text.heading(0, f"Slide {number}: {title}" if title else f"Slide {number}")
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue  # (python-pptx makes a new object on each access: not `is`)
            for piece in _shape_text(shape):
                text.add(piece)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text
            if notes.strip():
                text.add(f"Notes: {notes}")
        chars += text.chars
        if chars > max_chars:
            raise FileRefused(too_many_chars(max_chars))
        pages.append(text.page())
    # The deck's title: its properties', else its first slide's (the title slide).
    own = usable_title(deck.core_properties.title or "") or (titles[0] if titles else "")
    return Extracted(pages, own, "pptx")


def _shape_text(shape: Any) -> list[str]:
    if shape.has_text_frame:
        return [shape.text_frame.text]
    if getattr(shape, "has_table", False):
        return [table_row(cell.text for cell in row.cells) for row in shape.table.rows]
    if shape.shape_type == 6:  # a group: its shapes, in order
        return [piece for inner in shape.shapes for piece in _shape_text(inner)]
    return []
