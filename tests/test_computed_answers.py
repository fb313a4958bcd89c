"""A figure question answered over the real database: the rows stored at ingest, the
figure computed by the code with its formula and each operand's row and page cited,
no model asked to do arithmetic, and nothing computed when an operand is missing."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.answers.chat import AnswerMode
from rag_core.db import TableRowRecord
from rag_core.services import Services
from tests.helpers import FILING_PAGES, FILING_RATIO_QUESTION, make_pdf
from tests.test_chat import NoModel, replace_generator


@pytest.fixture
def filing(services: Services, tmp_path: Path) -> Services:
    make_pdf(tmp_path / "acme-10k.pdf", FILING_PAGES)
    results = list(services.ingestor.ingest_paths([tmp_path]))
    assert [r.outcome.value for r in results] == ["ingested"]
    return services


def test_rows_are_stored_with_the_document(filing: Services) -> None:
    with filing.db.session() as session:
        rows = session.scalars(sa.select(TableRowRecord).order_by(TableRowRecord.id)).all()
    liabilities = next(r for r in rows if r.label == "Total current liabilities")
    assert (liabilities.page, liabilities.unit, liabilities.periods) == (
        2,
        "thousands",
        [2015, 2014],
    )
    assert liabilities.cells == ["2,213,556", "2,494,435"]
    assert liabilities.statement == "Consolidated Balance Sheets"


def test_a_ratio_is_computed_with_its_operands_rows_and_pages(filing: Services) -> None:
    chat = replace_generator(filing.chat, NoModel())  # the arithmetic is the code's
    answer = chat.ask(FILING_RATIO_QUESTION, mode=AnswerMode.EXTRACTIVE).complete()
    assert not answer.abstained
    assert answer.figure is not None
    assert answer.figure["shown"] == "0.66"  # 1,469,502 / 2,213,556
    assert answer.text.startswith("operating cash flow ratio = 0.66")
    assert "= cash from operations FY2015 / total current liabilities FY2015" in answer.text
    assert "= 1,469,502 (thousands) / 2,213,556 (thousands)" in answer.text
    operands = answer.figure["operands"]
    assert [(o["item"], o["page"]) for o in operands] == [
        ("cash from operations", 3),
        ("total current liabilities", 2),
    ]
    for operand in operands:  # each operand's passage is a source, and it is cited
        source = answer.sources[operand["source"] - 1]
        assert source.page == operand["page"]
        assert operand["row"].split(" | ")[0] in source.text
        assert operand["source"] in answer.cited
        assert f"[{operand['source']}]" in answer.text
    assert answer.to_json()["figure"]["formula"] == (
        "cash from operations FY2015 / total current liabilities FY2015"
    )


def test_a_missing_operand_is_named_and_no_figure_shown(filing: Services) -> None:
    chat = replace_generator(filing.chat, NoModel())
    answer = chat.ask(
        "What is the FY2015 inventory turnover ratio for Acme Widgets? Inventory turnover "
        "ratio is defined as: (FY2015 COGS) / (average inventory between FY2014 and FY2015).",
        mode=AnswerMode.EXTRACTIVE,
    ).complete()
    assert answer.figure is not None and answer.figure["shown"] is None
    assert "No figure computed for “inventory turnover ratio”" in answer.text
    assert "cost of goods sold FY2015" in answer.text
    assert not any(ch == "=" for ch in answer.text.split("\n")[0])


def test_a_question_for_no_figure_is_answered_as_before(filing: Services) -> None:
    chat = replace_generator(filing.chat, NoModel())
    answer = chat.ask("What does Acme make?", mode=AnswerMode.EXTRACTIVE).complete()
    assert answer.figure is None
    assert answer.text.startswith("“")


def test_a_figure_comes_only_from_the_named_companys_filing(
    services: Services, tmp_path: Path
) -> None:
    make_pdf(tmp_path / "acme-10k.pdf", FILING_PAGES)
    other = [
        page.replace("Acme Widgets Inc.", "Globex Corporation")
        .replace("ACME WIDGETS INC.", "GLOBEX CORPORATION")
        .replace("2,213,556", "1,000,000")
        for page in FILING_PAGES
    ]
    make_pdf(tmp_path / "globex-10k.pdf", other)
    assert len(list(services.ingestor.ingest_paths([tmp_path]))) == 2
    chat = replace_generator(services.chat, NoModel())
    for company, shown, title in (
        ("Acme Widgets", "0.66", "acme-10k.pdf"),
        ("Globex Corporation", "1.47", "globex-10k.pdf"),  # 1,469,502 / 1,000,000
    ):
        question = FILING_RATIO_QUESTION.replace("Acme Widgets", company)
        answer = chat.ask(question, mode=AnswerMode.EXTRACTIVE).complete()
        assert answer.figure is not None and answer.figure["shown"] == shown
        assert {answer.sources[o["source"] - 1].title for o in answer.figure["operands"]} == {title}
    # A company with no filing in the library gets no figure from the others.
    answer = chat.ask(
        FILING_RATIO_QUESTION.replace("Acme Widgets", "Initech"), mode=AnswerMode.EXTRACTIVE
    ).complete()
    assert answer.figure is None or answer.figure["shown"] is None


def test_the_companys_filing_the_search_missed_still_gives_its_figure(
    services: Services, tmp_path: Path
) -> None:
    # Two of Acme's annual reports; the question's words find the 2015 one (its cover
    # page is about operating cash flow), but the 2016 figures are only in the other.
    make_pdf(tmp_path / "ACMEWIDGETS_2015_10K.pdf", FILING_PAGES)
    later = [
        "Acme Widgets Inc. Annual Report on Form 10-K for fiscal 2016. Widgets.",
        "ACME WIDGETS INC.\nCONSOLIDATED BALANCE SHEETS\n(In thousands)\n"
        "November 30, 2016\nNovember 27, 2015\n"
        "Total current liabilities 3,000,000 2,213,556",
        "ACME WIDGETS INC.\nCONSOLIDATED STATEMENTS OF CASH FLOWS\n(In thousands)\n"
        "Years Ended 2016 2015\n"
        "Net cash provided by operating activities 1,500,000 1,469,502",
    ]
    make_pdf(tmp_path / "ACMEWIDGETS_2016_10K.pdf", later)
    assert len(list(services.ingestor.ingest_paths([tmp_path]))) == 2
    chat = replace_generator(services.chat, NoModel())
    question = FILING_RATIO_QUESTION.replace("FY2015", "FY2016")
    answer = chat.ask(question, mode=AnswerMode.EXTRACTIVE, top_k=1).complete()
    assert answer.figure is not None and answer.figure["shown"] == "0.50"  # 1.5m / 3m
    source = answer.sources[answer.figure["operands"][0]["source"] - 1]
    assert source.title == "ACMEWIDGETS_2016_10K.pdf" and source.page == 3


def test_operands_on_one_page_share_one_source(filing: Services) -> None:
    chat = replace_generator(filing.chat, NoModel())
    answer = chat.ask(
        "What is the FY2015 return on assets (ROA) for Acme Widgets? ROA is defined as: FY2015 "
        "net income / (average total assets between FY2014 and FY2015).",
        mode=AnswerMode.EXTRACTIVE,
    ).complete()
    assert answer.figure is not None and answer.figure["shown"] == "0.06"
    # Net income from page 3; both years' total assets from one row of page 2.
    assert [(o["page"], o["source"]) for o in answer.figure["operands"]] == [(3, 1), (2, 2), (2, 2)]
    assert [s.page for s in answer.sources[:2]] == [3, 2]
