"""Cleaner text from real PDFs, and where their sections start: each cleaning step on
its own, then on PDFs made here (running headers, outlines, headings set in larger or
bold type, tables, two columns, 2,000 pages).  No models."""

import io
import time
from pathlib import Path

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from rag_core.errors import ExtractionFailed
from rag_core.extract import extract
from rag_core.extract.cleaning import (
    clean_pdf_page,
    drop_running_lines,
    join_hyphenated,
    normalise_unicode,
    vocabulary,
)
from rag_core.extract.structure import Heading, SectionPath
from rag_core.ingestion.chunking import chunk_pages
from rag_core.ingestion.isolation import ExtractionLimits, IsolatedExtractor


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


# --- each step -------------------------------------------------------------------------


def test_unicode_is_in_compatibility_form() -> None:
    assert normalise_unicode("The ﬁnal ﬂow, ＡＢＣ １２") == "The final flow, ABC 12"
    assert normalise_unicode("dis\u00adcharge zero\u200bwidth") == "discharge zerowidth"


def test_words_hyphenated_at_a_line_end_are_joined() -> None:
    assert clean_pdf_page("the infor-\nmation is") == "the information is"
    # A code, a double name and a figure keep their hyphen and their line.
    assert clean_pdf_page("the 10-\nK form") == "the 10-\nK form"
    assert clean_pdf_page("Mrs Smith-\nJones") == "Mrs Smith-\nJones"
    # A compound the document writes with its hyphen keeps it.
    pages = ["Other non-current liabilities", "Total non-\ncurrent assets; the argu-\nment"]
    words = vocabulary(pages)
    assert join_hyphenated(pages[1], words) == "Total non-current assets; the argument"


def test_a_table_row_split_one_figure_a_line_is_one_line_again() -> None:
    page = "Cash and cash equivalents\n$\n876,560\n$\n1,117,400\nShort-term investments\n(3,111)\n—"
    assert clean_pdf_page(page) == (
        "Cash and cash equivalents $ 876,560 $ 1,117,400\nShort-term investments (3,111) —"
    )
    # A figure after a blank line starts its own paragraph: it is not part of a row.
    assert clean_pdf_page("Revenue\n\n2022") == "Revenue\n\n2022"


def test_dot_leaders_become_a_space() -> None:
    assert clean_pdf_page("Revenue ........... 12") == "Revenue 12"
    assert clean_pdf_page("Item 7 . . . . . . 34") == "Item 7 34"
    assert clean_pdf_page("He said... then left") == "He said... then left"


def test_running_headers_and_footers_go_but_a_page_of_only_them_stays() -> None:
    topics = ["Dosing", "Leave", "Fire drill", "Parking", "Rota"]
    pages = [
        f"ACME Corp — Confidential\nInvoice {1040 + 3 * n}\n{topic} is covered here.\n"
        f"Page {n + 1} of 6"
        for n, topic in enumerate(topics)
    ]
    pages.append("ACME Corp — Confidential\nPage 6 of 6")  # nothing else on it
    cleaned = drop_running_lines(pages)
    # The same text on every page goes, and so does the page number; the invoice
    # numbers change from page to page in no step with it: they are content.
    assert cleaned[0] == "Invoice 1040\nDosing is covered here."
    assert all("ACME" not in page and "Page" not in page for page in cleaned[:5])
    assert cleaned[5] == pages[5]  # nothing is lost
    # Printed page numbers that run behind the file's (a cover page) still go.
    shifted = [page.replace(f"Page {n + 1} of", f"Page {n} of") for n, page in enumerate(pages)]
    assert drop_running_lines(shifted)[1] == "Invoice 1043\nLeave is covered here."
    # Two pages are too few to tell a running line from a repeated one.
    assert drop_running_lines(pages[:2]) == pages[:2]


def test_section_paths_nest_and_close() -> None:
    path = SectionPath()
    for heading in [Heading(0, 0, "Part II"), Heading(0, 1, "Item 7"), Heading(0, 2, "Liquidity")]:
        path.enter(heading)
    assert str(path) == "Part II > Item 7 > Liquidity"
    path.enter(Heading(0, 1, "Item 8"))
    assert str(path) == "Part II > Item 8"


# --- on PDFs ---------------------------------------------------------------------------


def pdf_with_sections(path: Path, *, outline: bool) -> Path:
    """Two chapters of two sections each; with `outline`, bookmarks name them, else
    only their type does (14 pt bold chapters, 12 pt bold sections, 10 pt body)."""
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=15)
    body = "The committee reviewed the figures in detail and agreed the plan. " * 6
    for chapter in ("Dosing Policy", "Staff Leave"):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        if outline:
            pdf.start_section(chapter, level=0)
        pdf.cell(0, 10, chapter, new_x="LMARGIN", new_y="NEXT")
        for section in ("Scope", "Exceptions"):
            pdf.set_font("Helvetica", "B", 12)
            if outline:
                pdf.start_section(f"{chapter} {section}", level=1)
            pdf.cell(0, 8, f"{chapter} {section}", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=10)
            pdf.multi_cell(0, 5, f"{section} of {chapter.lower()}: {body}")
    pdf.output(str(path))
    return path


def sections_of(path: Path) -> list[tuple[int | None, str]]:
    chunks = chunk_pages(extract(path).pages, words, 40, 0)
    return [(c.page_start, c.section) for c in chunks]


def test_headings_come_from_the_outline(tmp_path: Path) -> None:
    sections = sections_of(pdf_with_sections(tmp_path / "outlined.pdf", outline=True))
    assert (1, "Dosing Policy > Dosing Policy Scope") in sections
    assert (1, "Dosing Policy > Dosing Policy Exceptions") in sections
    assert (2, "Staff Leave > Staff Leave Exceptions") in sections


def test_headings_come_from_the_type_without_an_outline(tmp_path: Path) -> None:
    sections = sections_of(pdf_with_sections(tmp_path / "plain.pdf", outline=False))
    assert (1, "Dosing Policy > Dosing Policy Scope") in sections
    assert (2, "Staff Leave > Staff Leave Exceptions") in sections


def test_an_outline_pointing_at_a_missing_page_is_passed_over(tmp_path: Path) -> None:
    source = pdf_with_sections(tmp_path / "outlined.pdf", outline=False)
    writer = PdfWriter(clone_from=source)
    writer.add_outline_item(title="Dosing Policy", page_number=0)
    ghost = writer.add_outline_item(title="Ghost chapter", page_number=1)
    assert ghost is not None
    del writer.pages[1]  # the bookmark now points at a page the file does not have
    broken = tmp_path / "broken-outline.pdf"
    writer.write(broken)
    extracted = extract(broken)
    assert len(extracted.pages) == 1
    assert "Dosing Policy Scope" in extracted.pages[0].text
    assert [h.title for h in extracted.pages[0].headings] == ["Dosing Policy"]


def test_a_page_of_pure_table_keeps_every_row_on_its_line(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    rows = [("Item", "2023", "2022")] + [(f"Line {n}", f"{n},250", f"({n},100)") for n in range(30)]
    for row in rows:
        for cell in row:
            pdf.cell(40, 6, cell, border=1)
        pdf.ln()
    pdf.output(str(tmp_path / "table.pdf"))
    lines = extract(tmp_path / "table.pdf").pages[0].text.split("\n")
    assert "Line 7 7,250 (7,100)" in lines
    assert len(lines) == len(rows)


def test_two_columns_are_read_column_by_column_then_the_footnote(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    left = " ".join(f"Left{n} runs on." for n in range(40))
    right = " ".join(f"Right{n} goes on." for n in range(40))
    pdf.set_xy(10, 20)
    pdf.multi_cell(90, 5, left)
    pdf.set_xy(110, 20)
    pdf.multi_cell(90, 5, right)
    pdf.set_font("Helvetica", size=7)
    pdf.set_xy(10, 270)
    pdf.multi_cell(190, 4, "1 The footnote of the page.")
    pdf.output(str(tmp_path / "columns.pdf"))
    text = " ".join(extract(tmp_path / "columns.pdf").pages[0].text.split())
    assert text.index("Left39") < text.index("Right0") < text.index("Right39")
    assert text.index("Right39") < text.index("footnote")


def test_a_2000_page_file_is_read_whole_without_its_running_lines(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    for number in range(1, 2001):
        pdf.add_page()
        pdf.cell(0, 6, "Annual Report 2024 - Internal", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 5, f"The ledger records transfer {number * 7}.")
        pdf.set_y(-15)
        pdf.cell(0, 6, f"Page {number}")
    pdf.output(str(tmp_path / "long.pdf"))
    started = time.perf_counter()
    extracted = extract(tmp_path / "long.pdf", max_pages=2000)
    print(f"2,000 pages read in {time.perf_counter() - started:.1f} s")
    assert len(extracted.pages) == 2000
    assert extracted.pages[1999].text == "The ledger records transfer 14000."


def test_a_reader_past_the_time_limit_is_stopped_and_the_next_file_is_read(
    tmp_path: Path,
) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for number in range(1, 11):
        pdf.add_page()
        words = " ".join(f"The ledger records transfer {number * 7 + k}." for k in range(60))
        pdf.multi_cell(0, 5, words)
    ten = PdfReader(io.BytesIO(bytes(pdf.output())))
    writer = PdfWriter()  # 1,500 pages in a second (FPDF took half a minute to lay them out)
    for _ in range(150):
        for page in ten.pages:
            writer.add_page(page)
    writer.write(tmp_path / "long.pdf")
    short = pdf_with_sections(tmp_path / "short.pdf", outline=False)
    extractor = IsolatedExtractor(ExtractionLimits(timeout_seconds=0.3))
    try:
        assert extractor.extract(short).pages  # the reader is running
        try:
            extractor.extract(tmp_path / "long.pdf")  # about a second to read
        except ExtractionFailed as exc:
            assert "reading it used over 0.3 s of CPU time" in str(exc)
        else:
            raise AssertionError("the reader was not stopped")
        assert extractor.extract(short).pages  # a fresh reader took over
    finally:
        extractor.close()
