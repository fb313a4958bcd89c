"""Scanned pages read by Tesseract: error rate on scans of known text, upright, turned
and skewed; a scan ingested, searched and marked; blank scans; the switch; the
reader's time limits while it recognises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st

from rag_core.bench.ocr import character_error_rate, make_scan
from rag_core.errors import ExtractionFailed
from rag_core.extract import OcrOptions, extract
from rag_core.extract.ocr import needs_recognising
from rag_core.ingestion.isolation import ExtractionLimits, IsolatedExtractor
from rag_core.ingestion.results import Outcome
from rag_core.services import Services
from tests.helpers import CONTRACT_PAGES
from tests.test_app import add_accounts, ask, start

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="make test installs tesseract-ocr"
)

LETTER = (
    "Dear Dr Silva, the patient was seen in the cardiology clinic on 3 March. "
    "Her blood pressure was 128 over 82 and the echocardiogram showed a normal "
    "ejection fraction of 61 percent. We recommend continuing ramipril 5 mg once "
    "daily and a review in six months. Yours sincerely, the cardiology team."
)


@pytest.mark.parametrize("turn", ["upright", "turned 90", "turned 180", "skewed 2"])
def test_scanned_pages_are_recognised_within_two_percent(tmp_path: Path, turn: str) -> None:
    scan, [reference] = make_scan([LETTER * 3], tmp_path, turn)
    [page] = extract(scan, ocr=OcrOptions()).pages
    assert page.recognised
    assert character_error_rate(reference, page.text) <= 0.02, page.text


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_pages_read_at_once_keep_their_order_and_report_each_page(
    tmp_path: Path, workers: int
) -> None:
    texts = [f"Page {word} of the scanned referral letter. " * 8 for word in "ABCDE"]
    scan, references = make_scan(texts, tmp_path)
    heard: list[tuple[int, int]] = []
    pages = extract(
        scan,
        ocr=OcrOptions(workers=workers),
        progress=lambda done, total: heard.append((done, total)),
    ).pages
    for page, reference in zip(pages, references, strict=True):
        assert character_error_rate(reference, page.text) <= 0.02, (reference, page.text)
    assert heard == [(n, 5) for n in range(6)]


def test_the_rule_for_pages_that_need_recognising() -> None:
    assert needs_recognising("")
    assert needs_recognising("  12 \n")  # a page number alone
    assert needs_recognising("�� ��� ����� ���� ���� ���� ���")  # broken glyphs
    assert not needs_recognising("Revenue 2024 2023\n1,204 1,100")  # figures are text
    assert not needs_recognising("Item 1. Business" + "." * 80 + " 4")  # a contents line
    assert not needs_recognising(LETTER)


def test_a_blank_scan_has_no_text_and_says_so(tmp_path: Path) -> None:
    scan, _ = make_scan([" "], tmp_path)
    with pytest.raises(ExtractionFailed, match="no text, even recognised"):
        extract(scan, ocr=OcrOptions())


def test_with_recognition_off_a_scan_fails_as_before(tmp_path: Path) -> None:
    scan, _ = make_scan([LETTER], tmp_path)
    with pytest.raises(ExtractionFailed, match="no extractable text — scanned PDF"):
        extract(scan)


def test_each_page_recognised_gives_the_reader_more_time(tmp_path: Path) -> None:
    """Three scanned pages take longer than the reader's 2 s for a file: the reader
    reports each page, and each report extends its time by a page's allowance."""
    scan, _ = make_scan([LETTER, LETTER, LETTER], tmp_path)
    patient = IsolatedExtractor(ExtractionLimits(timeout_seconds=2, ocr=OcrOptions()))
    try:
        assert [p.recognised for p in patient.extract(scan).pages] == [True, True, True]
    finally:
        patient.close()
    hasty = IsolatedExtractor(
        ExtractionLimits(timeout_seconds=2, ocr=OcrOptions(page_seconds=0.05))
    )
    try:
        with pytest.raises(
            ExtractionFailed, match=r"recognising a scanned page used over 0\.05 s of CPU time"
        ):
            hasty.extract(scan)
    finally:
        hasty.close()


def test_a_scan_is_searchable_and_its_source_card_says_to_check_the_page(
    services: Services,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    scan, _ = make_scan([CONTRACT_PAGES[0], LETTER], tmp_path)
    shutil.copy(scan, drop / "clinic letter.pdf")
    ocr_services = services  # built with the settings' default: recognition on
    [result] = list(ocr_services.ingestor.ingest_paths([drop]))
    assert result.outcome == Outcome.INGESTED, result.line()
    assert result.pages == 2
    [best] = services.retriever.search("ejection fraction on the echocardiogram", top_k=1)
    assert best.page == 2 and "ejection fraction" in best.text
    assert services.catalog.recognised_pages(best.document_id) == {1, 2}

    add_accounts(services)
    at = start(tmp_path, monkeypatch, database_url)
    ask(at, "What was the ejection fraction on the echocardiogram?")
    shown = [w.value for w in at.warning]
    assert any("scanned page" in w and "check the page" in w for w in shown), (
        shown,
        [m.value for m in at.markdown][:12],
    )
    st.cache_resource.clear()


def test_a_poster_sized_scan_is_drawn_small_enough_to_recognise(tmp_path: Path) -> None:
    """A page 3 m wide is 35,000 pixels at 300 dpi; Tesseract refuses images over
    32,767 a side, and the file failed "text recognition failed"."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF(format=(3000, 3000))
    pdf.set_font("Helvetica", size=400)
    pdf.add_page()
    pdf.multi_cell(0, 200, "Fire exit on floor three")
    pdf.output(str(tmp_path / "poster.pdf"))
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(tmp_path / "poster.pdf")[0]
    image: Image.Image = page.render(scale=0.5, grayscale=True).to_pil()
    image.save(tmp_path / "poster scan.pdf", resolution=9)  # 3 m at 9 dpi: the image
    [read] = extract(tmp_path / "poster scan.pdf", ocr=OcrOptions()).pages
    assert "floor three" in read.text.lower()


def test_a_worker_reports_each_scanned_page_then_the_passages(
    services: Services, tmp_path: Path
) -> None:
    scan, _ = make_scan([LETTER, LETTER], tmp_path)
    heard: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, unit: str = "passages") -> None:
        heard.append((done, total, unit))

    result = services.ingestor.ingest_file(scan, progress=progress)
    assert result.outcome == Outcome.INGESTED, result.line()
    assert heard[:2] == [(0, 2, "scanned pages"), (1, 2, "scanned pages")]
    assert heard[-1] == (result.chunks, result.chunks, "passages")


def test_pages_with_a_text_layer_are_not_recognised_even_when_cleaning_shortens_them(
    tmp_path: Path,
) -> None:
    """Each page's first line recurs with the page's number, so cleaning takes it out
    as a running header; the page still has its text layer: no recognition (all 300
    pages of such a log were recognised, a minute and a half of work)."""
    from tests.helpers import make_pdf

    pages = [
        f"Maintenance log entry {p}. Pump {p} was serviced and its seals replaced; "
        f"flow measured {p * 3} litres a minute against {p * 3 + 1} expected."
        for p in range(1, 6)
    ]
    read = extract(make_pdf(tmp_path / "log.pdf", pages), ocr=OcrOptions())
    assert not any(page.recognised for page in read.pages)
