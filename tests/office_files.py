"""Office, web and e-mail files made by the tests with the libraries that write them."""

from __future__ import annotations

import zipfile
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
