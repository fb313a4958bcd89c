"""Office, web and e-mail formats, read from files the tests make with the libraries
that write them; bad input of each kind; and characters the database cannot store."""

from __future__ import annotations

import csv
import itertools
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.answers.context import build_passages
from rag_core.db import Chunk
from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.extract import SUPPORTED_SUFFIXES, extract, storable
from rag_core.extract.common import Attachment
from rag_core.ingestion.results import Outcome
from rag_core.library.actions import LibraryActionRefused
from rag_core.services import Services
from tests.helpers import make_pdf
from tests.office_files import (
    make_docx,
    make_eml,
    make_html,
    make_msg,
    make_odt,
    make_pptx,
    make_xlsx,
    make_zip_bomb,
)


def sections(path: Path) -> list[str]:
    return [h.title for page in extract(path).pages for h in page.headings]


def test_word_reads_headings_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    extracted = extract(make_docx(tmp_path / "policy.docx"))
    assert extracted.document_type == "docx"
    assert extracted.title == "Ward 4 infection control policy"
    [page] = extracted.pages
    assert page.number is None
    assert [(h.level, h.title) for h in page.headings] == [
        (0, "Hand hygiene"),
        (1, "Isolation rooms"),
    ]
    for heading in page.headings:
        assert page.text[heading.offset :].startswith(heading.title)
    assert page.text.index("disinfect") < page.text.index("norovirus")
    assert "Chlorine 1000 ppm | 10 minutes" in page.text


def test_opendocument_text_reads_headings_lists_and_tables_in_order(tmp_path: Path) -> None:
    extracted = extract(make_odt(tmp_path / "cleaning.odt"))
    assert extracted.title == "Theatre cleaning schedule"
    assert extracted.document_type == "odt"
    [page] = extracted.pages
    assert [(h.level, h.title) for h in page.headings] == [
        (0, "Daily cleaning"),
        (1, "Weekly cleaning"),
    ]
    for heading in page.headings:
        assert page.text[heading.offset :].startswith(heading.title)
    assert (
        page.text.index("mopped")
        < page.text.index("Ceiling vents")
        < page.text.index("Peracetic acid | 5 minutes")
    )
    # A LibreOffice spreadsheet, named as a text: said what it is.
    with zipfile.ZipFile(tmp_path / "budget.odt", "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        package.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(UnsupportedFile, match="OpenDocument spreadsheet or presentation"):
        extract(tmp_path / "budget.odt")


def test_powerpoint_is_one_unit_a_slide_with_its_notes(tmp_path: Path) -> None:
    extracted = extract(make_pptx(tmp_path / "board.pptx"))
    assert extracted.document_type == "pptx"
    assert sections(tmp_path / "board.pptx") == ["Slide 1: Quarterly budget", "Slide 2: Staffing"]
    first, second = (page.text for page in extracted.pages)
    assert "Travel spending fell by 12 percent." in first
    assert "Two nurses join the night shift" in second
    assert "Notes: Mention the agency contract ends in June." in second
    assert second.count("Staffing") == 1  # the title once, as the slide's heading
    assert "Night nurse | 38" in second


def test_spreadsheet_rows_carry_their_headers_and_formulas_their_saved_values(
    tmp_path: Path,
) -> None:
    extracted = extract(make_xlsx(tmp_path / "invoices.xlsx"))
    assert extracted.document_type == "xlsx"
    assert extracted.title == "Invoices 2026"
    units = sections(tmp_path / "invoices.xlsx")
    assert units[0].startswith("Sheet Invoices, rows 2–") and len(units) > 1
    text = "\n".join(page.text for page in extracted.pages)
    assert "Invoice: INV-1007; Supplier: Supplier 7; Amount: 700; With VAT: 840" in text
    # Units follow each other with no row lost or repeated.
    spans = [tuple(int(n) for n in u.split("rows ")[1].split("–")) for u in units]
    assert spans[0][0] == 2 and spans[-1][1] == 31
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))


def test_csv_with_semicolons_is_read_as_a_sheet(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Item", "Count"])
        writer.writerow(["Gauze swabs", "400"])
    extracted = extract(path)
    assert extracted.pages[0].text.endswith("Item: Gauze swabs; Count: 400")
    assert sections(path) == ["Sheet stock, row 2"]


def test_html_keeps_the_main_text_and_drops_scripts_and_navigation(tmp_path: Path) -> None:
    extracted = extract(make_html(tmp_path / "visitors.html"))
    [page] = extracted.pages
    assert extracted.title == "Visitor rules"
    assert [h.title for h in page.headings] == ["Visiting the ward", "Children"]
    assert "Visitors are welcome from 14:00 to 18:00." in page.text
    assert "Sunday | 10:00-18:00" in page.text
    for absent in ("tracking code", "color: red", "Home | About", "Copyright", "http"):
        assert absent not in page.text


def test_email_has_its_headers_body_and_forwarded_message(tmp_path: Path) -> None:
    extracted = extract(make_eml(tmp_path / "order.eml"))
    [page] = extracted.pages
    assert extracted.title == "Insulin order for ward 4"
    assert "From: Dr Ana Silva <ana@clinic.example>" in page.text
    assert "Date: Mon, 02 Nov 2026 09:15:00 +0000" in page.text
    assert "Please order 20 insulin pens" in page.text
    assert "We hold 40 pens of insulin glargine" in page.text  # the forwarded message
    assert [h.title for h in page.headings] == ["Forwarded message: Stock of insulin"]
    assert "Attachments: order.pdf" in page.text
    # Attachments of a type we read come out whole, to be documents of their own.
    assert extracted.attachments == (Attachment("order.pdf", b"%PDF-1.4 not really a pdf"),)


def test_an_outlook_message_is_read_like_an_email(tmp_path: Path) -> None:
    extracted = extract(make_msg(tmp_path / "order.msg"))
    [page] = extracted.pages
    assert extracted.title == "Insulin order for ward 4"
    assert extracted.document_type == "email"
    assert "From: Dr Ana Silva" in page.text
    assert "To: Ward 4 <ward4@clinic.example>" in page.text
    assert "Date: Mon, 02 Nov 2026 09:15:00 +0000" in page.text
    assert "Please order 20 insulin pens" in page.text
    assert "We hold 40 pens of insulin glargine" in page.text  # the message inside
    assert [h.title for h in page.headings] == ["Forwarded message: Stock of insulin"]
    assert "Attachments: order.pdf" in page.text
    assert extracted.attachments == (Attachment("order.pdf", b"%PDF-1.4 not really a pdf"),)


def test_a_file_is_read_as_what_its_content_is(tmp_path: Path) -> None:
    pdf_named_docx = tmp_path / "letter.docx"
    pdf_named_docx.write_bytes(make_pdf(tmp_path / "letter.pdf", ["A letter."]).read_bytes())
    assert extract(pdf_named_docx).document_type == "pdf"
    docx_named_pdf = tmp_path / "memo.pdf"
    docx_named_pdf.write_bytes(make_docx(tmp_path / "memo.docx").read_bytes())
    assert extract(docx_named_pdf).document_type == "docx"
    msg_named_eml = tmp_path / "note.eml"
    msg_named_eml.write_bytes(make_msg(tmp_path / "note.msg").read_bytes())
    assert extract(msg_named_eml).title == "Insulin order for ward 4"


@pytest.mark.parametrize(
    ("name", "content", "error", "reason"),
    [
        ("notes.docx", b"not a zip at all", ExtractionFailed, "zip container"),
        (
            "old.doc.docx",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
            UnsupportedFile,
            "older Office",
        ),
        ("empty.pptx", b"", ExtractionFailed, "empty file"),
        (
            "blank.html",
            b"<html><body><script>x()</script></body></html>",
            ExtractionFailed,
            "no text",
        ),
        ("nothing.eml", b"just a line without headers\n", ExtractionFailed, "not an e-mail"),
        (
            "broken.msg",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000),
            ExtractionFailed,
            "unreadable Outlook",
        ),
    ],
)
def test_bad_office_files_fail_with_a_reason(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=reason):
        extract(path)


def test_a_password_protected_office_file_says_so(tmp_path: Path) -> None:
    """Encrypted as Word does it (ECMA-376 agile encryption, by msoffcrypto-tool)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = make_docx(tmp_path / "open.docx")
    with plain.open("rb") as source, (tmp_path / "locked.docx").open("wb") as locked:
        OOXMLFile(source).encrypt("a password", locked)
    with pytest.raises(ExtractionFailed, match="password-protected Office file"):
        extract(tmp_path / "locked.docx")


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    with pytest.raises(ExtractionFailed, match="zip bomb"):
        extract(make_zip_bomb(tmp_path / "bomb.docx"))


def test_a_spreadsheet_with_too_many_rows_fails_with_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("id,value\n" + "".join(f"{n},{n}\n" for n in range(250_000)))
    with pytest.raises(ExtractionFailed, match="more than 200,000 rows"):
        extract(path)


def test_characters_the_database_refuses_are_taken_out() -> None:
    assert storable("dose\x00 5 mg\x07") == "dose 5 mg"
    assert storable("half \ud83d pair") == "half \ufffd pair"
    assert storable("tab\tand\nnewline\x0cpage") == "tab\tand\nnewline\x0cpage"


def test_nul_characters_in_any_format_do_not_fail_the_file(
    services: Services, tmp_path: Path
) -> None:
    """NUL in a web page, an e-mail subject, a PDF's title and bookmarks: PostgreSQL
    refused such text (SQLSTATE 22P05) and the file failed with an internal error."""
    from pypdf import PdfReader, PdfWriter

    folder = tmp_path / "nul"
    folder.mkdir()
    (folder / "page.html").write_text(
        "<h1>Dosage\x00 table</h1><p>Give 5\x00 mg twice a day with food.</p>"
        + "<p>Water.</p>" * 20
    )
    message = make_eml(tmp_path / "raw.eml").read_bytes()
    (folder / "mail.eml").write_bytes(message.replace(b"Insulin order", b"Insulin\x00 order"))
    make_pdf(folder / "titled.pdf", ["The annual report."], title="Annual\x00 report")
    writer = PdfWriter(clone_from=PdfReader(make_pdf(tmp_path / "b.pdf", ["Bookmarked text."])))
    writer.add_outline_item(title="Chapter\x00 one", page_number=0)
    with (folder / "bookmarked.pdf").open("wb") as handle:
        writer.write(handle)
    results = list(services.ingestor.ingest_paths([folder]))
    assert [(r.path.name, r.outcome) for r in results] == [
        ("bookmarked.pdf", Outcome.INGESTED),
        ("mail.eml", Outcome.INGESTED),
        ("page.html", Outcome.INGESTED),
        ("titled.pdf", Outcome.INGESTED),
    ], [r.line() for r in results]


def test_each_format_is_ingested_searched_and_cited_by_its_unit(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    make_docx(folder / "policy.docx")
    make_pptx(folder / "board.pptx")
    make_xlsx(folder / "invoices.xlsx")
    make_html(folder / "visitors.html")
    make_eml(folder / "order.eml")
    make_odt(folder / "cleaning.odt")
    make_msg(
        folder / "theatre.msg", "Autoclave", "The autoclave in theatre 2 is serviced on Tuesdays."
    )
    results = list(services.ingestor.ingest_paths([folder]))
    assert all(r.outcome == Outcome.INGESTED for r in results), [r.line() for r in results]
    expected = {
        "How long do norovirus patients stay in a single room?": "Isolation rooms",
        "Who joins the night shift in March?": "Slide 2: Staffing",
        "What is the amount of invoice INV-1007?": "Sheet Invoices, rows",
        "When are visitors welcome on the ward?": "Visiting the ward",
        "How many insulin pens should be ordered for ward 4?": "",
        "When is the autoclave in theatre 2 serviced?": "",
        "On which day are the theatre ceiling vents wiped down?": "Weekly cleaning",
    }
    for question, unit in expected.items():
        [best] = services.retriever.search(question, top_k=1)
        assert unit in best.section, (question, best.section, best.text)
    # The passage quoted to the model (widened by its neighbours) stays on its slide.
    [staffing] = services.retriever.search("Who joins the night shift in March?", top_k=1)
    [passage] = build_passages(services.db, [staffing], neighbours=1)
    assert "night shift" in passage.text and "Quarterly budget" not in passage.text
    with services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count(Chunk.id))) > 5


def test_upload_takes_every_type_the_drop_folder_reads(services: Services) -> None:
    for suffix in sorted(SUPPORTED_SUFFIXES):
        upload = services.library.upload(f"sample{suffix}", b"some bytes")
        assert upload.path.name == f"sample{suffix}"
    with pytest.raises(LibraryActionRefused, match="only these file types"):
        services.library.upload("sample.doc", b"some bytes")
