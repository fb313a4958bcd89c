"""Office, web and e-mail files end to end: one file of each type, written from real
text by the library that writes the format, ingested on a throw-away library; the
time of reading alone and of the whole ingest, in the type's own units."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Any

from rag_core.bench.common import corpus_texts, print_table, scratch_settings
from rag_core.extract import extract
from rag_core.settings import Settings


def _docx(path: Path, texts: list[str]) -> None:
    import docx

    document = docx.Document()
    for number, text in enumerate(texts):
        if number % 10 == 0:
            document.add_heading(f"Chapter {number // 10 + 1}", level=1)
        document.add_paragraph(text)
    document.save(str(path))


def _odt(path: Path, texts: list[str]) -> None:
    from odf import text as odf_text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    for number, text in enumerate(texts):
        if number % 10 == 0:
            document.text.addElement(odf_text.H(outlinelevel=1, text=f"Chapter {number // 10 + 1}"))
        document.text.addElement(odf_text.P(text=text))
    document.save(str(path))


def _pptx(path: Path, texts: list[str]) -> None:
    from pptx import Presentation

    deck = Presentation()
    for number, text in enumerate(texts):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Finding {number + 1}"
        slide.placeholders[1].text = text[:600]
    deck.save(str(path))


def _xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Ledger")
    sheet.append(["Invoice", "Supplier", "Amount", "Note"])
    for row in range(1, rows + 1):
        sheet.append([f"INV-{row}", f"Supplier {row % 97}", row * 3.5, f"To ward {row % 12}"])
    book.save(str(path))


def _html(path: Path, texts: list[str]) -> None:
    parts = "".join(f"<h2>Part {n}</h2><p>{escape(t)}</p>" for n, t in enumerate(texts))
    path.write_text(f"<html><body><main>{parts}</main></body></html>")


def _eml(path: Path, texts: list[str]) -> None:
    message = EmailMessage()
    message["From"], message["Subject"] = "ward4@clinic.example", "A long thread"
    message.set_content("\n\n".join(texts))
    path.write_bytes(bytes(message))


def bench_formats(settings: Settings, corpus: Path, units: int) -> dict[str, Any]:
    """`units` paragraphs (docx, odt, html, eml), a third as many slides, and 30 rows
    a unit in a sheet."""
    from rag_core.services import build_embedder, build_services

    texts = [t for t in corpus_texts(corpus) if len(t) > 600][:units]
    makers: dict[str, tuple[Callable[[Path], None], int, str]] = {
        "report.docx": (lambda p: _docx(p, texts), len(texts), "paragraphs"),
        "report.odt": (lambda p: _odt(p, texts), len(texts), "paragraphs"),
        "page.html": (lambda p: _html(p, texts), len(texts), "paragraphs"),
        "thread.eml": (lambda p: _eml(p, texts), len(texts), "paragraphs"),
        "deck.pptx": (
            lambda p: _pptx(p, texts[: max(1, units // 3)]),
            max(1, units // 3),
            "slides",
        ),
        "ledger.xlsx": (lambda p: _xlsx(p, units * 30), units * 30, "rows"),
    }
    scratch = scratch_settings(settings, "rag-bench-formats-")
    embedder = build_embedder(scratch)
    embedder.embed(["warm up"])
    services = build_services(scratch, embedder=embedder)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="rag-bench-formats-files-"))
    try:
        for name, (make, count, unit) in makers.items():
            path = work / name
            make(path)
            started = time.perf_counter()
            extract(path)
            read = time.perf_counter() - started
            started = time.perf_counter()
            [result] = list(services.ingestor.ingest_paths([path]))
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "file": name,
                    "units": f"{count} {unit}",
                    "kb": round(path.stat().st_size / 1000),
                    "read_s": round(read, 2),
                    "ingest_s": round(seconds, 2),
                    "units_per_s": round(count / seconds, 1),
                    "passages": result.chunks,
                    "outcome": result.outcome.value,
                }
            )
    finally:
        services.close()
        shutil.rmtree(work, ignore_errors=True)
    print_table("formats: one file of each type, read and ingested end to end", rows, list(rows[0]))
    return {"benchmark": "formats", "runs": rows}
