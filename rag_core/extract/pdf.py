"""PDF through PDFium (`rag_core.extract.pdftext`), cleaned (`rag_core.extract.cleaning`), with the
headings where its sections start (`rag_core.extract.structure`)."""

from __future__ import annotations

from pathlib import Path

from rag_core.errors import ExtractionFailed
from rag_core.extract.cleaning import clean_pdf_page, drop_running_lines, vocabulary
from rag_core.extract.common import Extracted, Page, normalize_text
from rag_core.extract.ocr import needs_recognising
from rag_core.extract.pdftext import read_pdf
from rag_core.extract.structure import outline_headings, typeset_headings


def read(path: Path, max_pages: int, max_chars: int) -> Extracted:
    """A PDF's pages, cleaned, each with the headings that start on it (from the
    outline when the file has one, else from the type), and its title."""
    try:
        pdf = read_pdf(path, max_pages, max_chars)
    except RecursionError as exc:
        raise ExtractionFailed("malformed PDF (its structure loops)") from exc
    normalized = [normalize_text(text) for text in pdf.pages]
    words = vocabulary(normalized)
    texts = drop_running_lines([normalize_text(clean_pdf_page(t, words)) for t in normalized])
    if pdf.outline:
        headings = outline_headings(pdf.outline, texts)
    else:
        headings = typeset_headings(pdf.lines, texts)
    pages = [
        Page(number, text, tuple(found), scanned=needs_recognising(raw))
        for number, (raw, text, found) in enumerate(
            zip(normalized, texts, headings, strict=True), start=1
        )
    ]
    return Extracted(pages, pdf.title, "pdf")  # pages without text: see extract.ocr
