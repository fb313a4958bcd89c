"""Files made by the tests: real PDFs (fpdf2), encrypted ones (pypdf), broken ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from rag_core.services import Services


def make_pdf(path: Path, pages: Sequence[str], title: str | None = None) -> Path:
    """A PDF with one page per text (core Helvetica font, Latin-1 text)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, target: Path, password: str = "secret") -> Path:
    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-256")
    with target.open("wb") as handle:
        writer.write(handle)
    return target


CONTRACT_PAGES = [
    "Master Services Agreement between Acme Corporation and Globex Ltd.\n\n"
    "This agreement sets out the terms on which Globex provides consulting services to "
    "Acme Corporation, starting on 1 March 2026.",
    "Section 7. Termination.\n\n"
    "Either party may terminate this agreement by giving ninety (90) days written notice "
    "to the other party. The notice period for termination is ninety days.",
    "Section 9. Fees and invoicing.\n\n"
    "Acme shall pay Globex a monthly fee of 12,500 euros, invoiced on the first business "
    "day of each month. Late payments carry interest of two percent per month.",
    "Section 12. Confidentiality.\n\n"
    "Both parties keep confidential all information marked as confidential for five years "
    "after the end of this agreement.",
]

CLINIC_TEXT = (
    "Clinic handbook: paediatric dosing\n\n"
    "For children aged 6 to 12 years the maximum daily dose of paracetamol is 60 mg per "
    "kilogram of body weight, split into four doses.\n\n"
    "Ibuprofen must not be given to children under three months old.\n"
)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, every: float = 0.1) -> bool:
    """Poll until `condition()` holds; False if it never did within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


_OWNER_ENGINES: dict[str, sa.Engine] = {}


def owner_engine(services: Services) -> sa.Engine:
    """An engine connected as the database's owner (what DATABASE_URL names), for a
    test that does what only a restart or an administrator may: the services work
    through the appliance's restricted role."""
    url = services.settings.database_url
    assert url is not None
    if url not in _OWNER_ENGINES:
        _OWNER_ENGINES[url] = sa.create_engine(url, poolclass=sa.pool.NullPool)
    return _OWNER_ENGINES[url]


# A filing's cover, balance sheet and cash-flow statement, one page each.
FILING_PAGES = [
    "Acme Widgets Inc. Annual Report on Form 10-K for fiscal 2015.\n\n"
    "Acme makes widgets. Our operating cash flow grew in 2015 as customers paid sooner.",
    "ACME WIDGETS INC.\nCONSOLIDATED BALANCE SHEETS\n(In thousands)\n"
    "November 27, 2015\nNovember 28, 2014\n"
    "Cash and cash equivalents $ 876,560 $ 1,117,400\n"
    "Total current assets 4,821,892 4,602,328\n"
    "Total current liabilities 2,213,556 2,494,435\n"
    "Total assets $ 11,726,472 $ 10,785,829",
    "ACME WIDGETS INC.\nCONSOLIDATED STATEMENTS OF CASH FLOWS\n(In thousands)\n"
    "Years Ended 2015 2014\n"
    "Net income $ 629,551 $ 268,395\n"
    "Net cash provided by operating activities 1,469,502 1,287,482\n"
    "Purchases of property and equipment (184,936) (148,332)",
]
FILING_RATIO_QUESTION = (
    "What is the FY2015 operating cash flow ratio for Acme Widgets? Operating cash flow ratio "
    "is defined as: cash from operations / total current liabilities. Round your answer to "
    "two decimal places."
)
