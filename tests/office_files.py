"""Office, web and e-mail files made by the tests with the libraries that write them."""

from __future__ import annotations

import struct
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Ward 4 infection control policy"
    document.add_heading("Hand hygiene", level=1)
    document.add_paragraph("Staff disinfect their hands before and after every patient contact.")
    document.add_heading("Isolation rooms", level=2)
    document.add_paragraph("Patients with norovirus stay in a single room for 48 hours.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Agent", "Contact time"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Chlorine 1000 ppm", "10 minutes"
    document.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text, written by odfpy as LibreOffice would write it."""
    from odf import dc, table, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Theatre cleaning schedule"))
    document.text.addElement(text.H(outlinelevel=1, text="Daily cleaning"))
    document.text.addElement(text.P(text="Theatre floors are mopped after the last case."))
    document.text.addElement(text.H(outlinelevel=2, text="Weekly cleaning"))
    items = text.List()
    item = text.ListItem()
    item.addElement(text.P(text="Ceiling vents are wiped down every Friday."))
    items.addElement(item)
    document.text.addElement(items)
    grid = table.Table(name="Agents")
    for cells in (("Agent", "Contact time"), ("Peracetic acid", "5 minutes")):
        row = table.TableRow()
        for value in cells:
            cell = table.TableCell()
            cell.addElement(text.P(text=value))
            row.addElement(cell)
        grid.addElement(row)
    document.text.addElement(grid)
    document.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    layout = deck.slide_layouts[1]  # title and content
    first = deck.slides.add_slide(layout)
    first.shapes.title.text = "Quarterly budget"
    first.placeholders[1].text = "Travel spending fell by 12 percent."
    second = deck.slides.add_slide(layout)
    second.shapes.title.text = "Staffing"
    second.placeholders[1].text = "Two nurses join the night shift in March."
    second.notes_slide.notes_text_frame.text = "Mention the agency contract ends in June."
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1))
    cells = shape.table.rows
    cells[0].cells[0].text, cells[0].cells[1].text = "Role", "Hours"
    cells[1].cells[0].text, cells[1].cells[1].text = "Night nurse", "38"
    deck.save(str(path))
    return path


def make_xlsx(path: Path, rows: int = 30) -> Path:
    """A workbook whose totals are formulas with the value Excel would have saved."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Invoices")
    sheet.write_row(0, 0, ["Invoice", "Supplier", "Amount", "With VAT"])
    for n in range(1, rows + 1):
        amount = 100 * n
        sheet.write_row(n, 0, [f"INV-{1000 + n}", f"Supplier {n}", amount])
        sheet.write_formula(n, 3, f"=C{n + 1}*1.2", None, amount * 1.2)
    book.set_properties({"title": "Invoices 2026"})
    book.close()
    return path


def make_html(path: Path) -> Path:
    path.write_text(
        """<!doctype html><html><head><title>Visitor rules</title>
<script>document.write("tracking code")</script>
<style>body { color: red }</style>
<link rel="stylesheet" href="http://cdn.example.invalid/site.css"></head>
<body><nav>Home | About | Contact</nav>
<main><h1>Visiting the ward</h1>
<p>Visitors are welcome from 14:00 to 18:00.</p>
<img src="http://images.example.invalid/ward.png" alt="the ward">
<h2>Children</h2><p>Children under 12 visit with an adult.</p>
<table><tr><th>Day</th><th>Hours</th></tr><tr><td>Sunday</td><td>10:00-18:00</td></tr></table>
</main><footer>Copyright the hospital</footer>
<iframe src="http://ads.example.invalid/"></iframe></body></html>""",
        encoding="utf-8",
    )
    return path


def make_eml(path: Path, attachment: bytes = b"%PDF-1.4 not really a pdf") -> Path:
    inner = EmailMessage()
    inner["From"] = "pharmacy@clinic.example"
    inner["Subject"] = "Stock of insulin"
    inner.set_content("We hold 40 pens of insulin glargine until Friday.")
    message = EmailMessage()
    message["From"] = "Dr Ana Silva <ana@clinic.example>"
    message["To"] = "ward4@clinic.example"
    message["Date"] = "Mon, 02 Nov 2026 09:15:00 +0000"
    message["Subject"] = "Insulin order for ward 4"
    message.set_content("Please order 20 insulin pens for ward 4 before Thursday.")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename="order.pdf")
    message.add_attachment(inner)
    path.write_bytes(bytes(message))
    return path


def make_zip_bomb(path: Path, unpacked: int = 60_000_000) -> Path:
    """A .docx whose document part is 60 MB of spaces packed into a few kilobytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", b" " * unpacked)
    return path


def make_msg(
    path: Path,
    subject: str = "Insulin order for ward 4",
    body: str = "Please order 20 insulin pens for ward 4 before Thursday.",
    attachment: bytes = b"%PDF-1.4 not really a pdf",
) -> Path:
    """An Outlook .msg (an OLE compound file of MAPI properties, written with
    extract-msg's OLE writer): sender, one recipient, sent time, subject, plain body,
    a file attached as order.pdf and a message attached inside (a forward)."""
    from extract_msg.ole_writer import OleWriter

    writer = OleWriter()
    for stream in ("00020102", "00030102", "00040102"):  # named properties: none
        writer.addEntry(["__nameid_version1.0", f"__substg1.0_{stream}"], b"")
    forwarded = ("Stock of insulin", "We hold 40 pens of insulin glargine until Friday.")
    _msg_message(writer, [], subject, body, [("order.pdf", attachment)], forwarded)
    writer.write(str(path))
    return path


def _msg_message(
    writer: object,
    prefix: list[str],
    subject: str,
    body: str,
    files: list[tuple[str, bytes]],
    forwarded: tuple[str, str] | None,
) -> None:
    def text(value: str) -> bytes:  # a Unicode string property
        return value.encode("utf-16-le")

    def properties(header: bytes, fixed: list[tuple[int, int]]) -> bytes:
        return header + b"".join(struct.pack("<IIQ", tag, 6, value) for tag, value in fixed)

    add = writer.addEntry  # type: ignore[attr-defined]
    count = len(files) + (forwarded is not None)
    header = bytes(8) + struct.pack("<IIII", 1, count, 1, count) + (b"" if prefix else bytes(8))
    sent = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    filetime = int((sent - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * 10_000_000
    add([*prefix, "__properties_version1.0"], properties(header, [(0x00390040, filetime)]))
    add([*prefix, "__substg1.0_001A001F"], text("IPM.Note"))
    add([*prefix, "__substg1.0_0037001F"], text(subject))
    add([*prefix, "__substg1.0_1000001F"], text(body))
    add([*prefix, "__substg1.0_0C1A001F"], text("Dr Ana Silva"))
    recipient = [*prefix, "__recip_version1.0_#00000000"]
    add(recipient, storage=True)
    add([*recipient, "__properties_version1.0"], properties(bytes(8), [(0x0C150003, 1)]))
    add([*recipient, "__substg1.0_3001001F"], text("Ward 4"))
    add([*recipient, "__substg1.0_39FE001F"], text("ward4@clinic.example"))
    for number, (name, data) in enumerate(files):
        folder = [*prefix, f"__attach_version1.0_#{number:08X}"]
        add(folder, storage=True)
        add([*folder, "__properties_version1.0"], properties(bytes(8), [(0x37050003, 1)]))
        add([*folder, "__substg1.0_3707001F"], text(name))
        add([*folder, "__substg1.0_37010102"], data)
    if forwarded is not None:
        folder = [*prefix, f"__attach_version1.0_#{len(files):08X}"]
        add(folder, storage=True)
        add([*folder, "__properties_version1.0"], properties(bytes(8), [(0x37050003, 5)]))
        add([*folder, "__substg1.0_3701000D"], storage=True)
        _msg_message(writer, [*folder, "__substg1.0_3701000D"], *forwarded, [], None)
