"""A question about a financial statement finds the statement's page: the balance sheet
for a balance, the page a named statement is on, over the real database (rows read at
ingest), and nothing moves for a question that asks for no statement."""

from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.figures.concepts import BALANCE, CASH, INCOME
from rag_core.figures.metrics import asked_statements, asked_years
from rag_core.search.hits import Hit
from rag_core.search.statements import prefer_statements
from rag_core.services import Services
from tests.helpers import FILING_PAGES, make_pdf

# Management's discussion: the words of the question, none of the statement's figures.
_DISCUSSION = (
    "Management's discussion of liquidity. Total current assets at the end of fiscal 2015 "
    "grew as total current assets rose with cash: our total current assets and our working "
    "capital at the end of FY2015 are discussed here, and total current assets will grow."
)
_QUESTION = "What were Acme's total current assets at the end of FY2015?"
# An older balance sheet, as a filing's five-year data or an earlier year's filing has.
_OLDER_BALANCE_SHEET = (
    "ACME WIDGETS INC.\nCONSOLIDATED BALANCE SHEETS\n(In thousands)\n"
    "November 29, 2013\nNovember 30, 2012\n"
    "Total current assets 3,974,118 3,615,245\n"
    "Total current liabilities 1,986,702 1,806,222"
)


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        (_QUESTION, {BALANCE}),
        ("What is the FY2018 capital expenditure for MGM? Use the cash flow statement.", {CASH}),
        ("According to the income statement, what drove the change in margin?", {INCOME}),
        (
            "Which brought in the most cash: operating, investing or financing activities?",
            {CASH},
        ),
        (
            "What is the FY2019 inventory turnover ratio? It is defined as: FY2019 COGS / "
            "average inventories between FY2018 and FY2019.",
            {INCOME, BALANCE},
        ),
        ("What is the notice period in the lease?", set()),
        ("What was the population of Warsaw in 2010?", set()),
    ],
)
def test_the_statements_a_question_asks_about(question: str, wanted: set[str]) -> None:
    assert asked_statements(question) == wanted


@pytest.fixture
def filing(services: Services, tmp_path: Path) -> Services:
    make_pdf(tmp_path / "acme-10k.pdf", [*FILING_PAGES, _DISCUSSION, _OLDER_BALANCE_SHEET])
    results = list(services.ingestor.ingest_paths([tmp_path]))
    assert [r.outcome.value for r in results] == ["ingested"]
    return services


def _pages(services: Services, question: str, weight: float) -> list[int | None]:
    retriever = services.retriever
    retriever.params = replace(retriever.params, statement_weight=weight)
    return [hit.page for hit in retriever.search(question, top_k=4)]


def test_the_balance_sheet_comes_first_for_a_balance(filing: Services) -> None:
    assert _pages(filing, _QUESTION, 0.0)[0] == 4  # the discussion shares its words
    assert _pages(filing, _QUESTION, 1.0)[0] == 2


def test_a_question_for_no_statement_is_ranked_as_before(filing: Services) -> None:
    question = "What does management say about working capital and liquidity?"
    assert _pages(filing, question, 1.0) == _pages(filing, question, 0.0)


def test_the_balance_sheet_of_the_year_asked_comes_before_an_older_one(
    filing: Services,
) -> None:
    hits = {h.page: h for h in filing.retriever.search(_QUESTION, top_k=10)}
    older_first = [replace(hits[5], fused_score=0.01), replace(hits[2], fused_score=0.01)]

    def pages(years: frozenset[int]) -> list[int | None]:
        ranked: list[Hit] = prefer_statements(
            filing.db, older_first, frozenset({BALANCE}), 0.02, years
        )
        return [h.page for h in ranked]

    assert asked_years(_QUESTION) == {2015}
    assert pages(asked_years(_QUESTION)) == [2, 5]
    assert pages(frozenset()) == [5, 2]  # no year asked: both are balance sheets
