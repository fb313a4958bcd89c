"""Text recognition of scanned pages: character error rate and pages/s, on scans made
from known text (PDF pages printed by fpdf2, rendered at 300 dpi, saved as image-only
PDFs) upright, turned 90 and 180 degrees, and skewed 2 degrees."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.bench.common import corpus_texts, print_table
from rag_core.extract import OcrOptions, extract

TURNS: dict[str, Callable[[Any], Any]] = {
    "upright": lambda image: image,
    "turned 90": lambda image: image.rotate(90, expand=True, fillcolor=255),
    "turned 180": lambda image: image.rotate(180, expand=True, fillcolor=255),
    "skewed 2": lambda image: image.rotate(2, expand=True, fillcolor=255),
}


def character_error_rate(reference: str, recognised: str) -> float:
    """Edit distance (characters) over the reference's length, spacing normalised."""
    a, b = " ".join(reference.split()), " ".join(recognised.split())
    if not a:
        return float(bool(b))
    codes = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    steps = np.arange(len(b) + 1)
    previous = steps.copy()
    for row, char in enumerate(a, start=1):
        cost = (codes != ord(char)).astype(np.int64)
        current = np.empty_like(previous)
        current[0] = row
        current[1:] = np.minimum(previous[1:] + 1, previous[:-1] + cost)
        previous = np.minimum.accumulate(current - steps) + steps  # insertions
    return float(previous[-1]) / len(a)


def make_scan(texts: Sequence[str], folder: Path, turn: str = "upright") -> tuple[Path, list[str]]:
    """An image-only PDF of `texts`, one page each, and each page's text as printed."""
    import pypdfium2 as pdfium
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(0, 6, text.encode("latin-1", "ignore").decode("latin-1"))
    printed = folder / "printed.pdf"
    pdf.output(str(printed))
    document = pdfium.PdfDocument(printed)
    try:
        references = [document[i].get_textpage().get_text_range() for i in range(len(document))]
        images = [
            TURNS[turn](document[i].render(scale=300 / 72, grayscale=True).to_pil())
            for i in range(len(document))
        ]
    finally:
        document.close()
    scan = folder / f"scan {turn}.pdf"
    images[0].save(scan, save_all=True, append_images=images[1:], resolution=300)
    return scan, references


def bench_ocr(corpus: Path, pages: int, languages: str = "eng") -> dict[str, Any]:
    texts = [t[:1400] for t in corpus_texts(corpus) if len(t) > 900][:pages]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-ocr-") as work:
        for turn in TURNS:
            scan, references = make_scan(texts, Path(work), turn)
            started = time.perf_counter()
            read = extract(scan, ocr=OcrOptions(languages))
            seconds = time.perf_counter() - started
            rates = [
                character_error_rate(ref, page.text)
                for ref, page in zip(references, read.pages, strict=True)
            ]
            rows.append(
                {
                    "scan": turn,
                    "pages": len(references),
                    "cer_mean": round(float(np.mean(rates)), 4),
                    "cer_max": round(max(rates), 4),
                    "pages_per_s": round(len(references) / seconds, 2),
                }
            )
    print_table(f"ocr: Tesseract ({languages}), 300 dpi scans of known text", rows, list(rows[0]))
    return {"benchmark": "ocr", "runs": rows}
