"""Figures staff can check: table rows read with their headers from real filing pages,
the figure a question asks for read as a formula, computed by the code from the rows
(units and signs handled), and refused when an operand is missing."""

import os
from pathlib import Path

import pytest

from rag_core.extract import pdf
from rag_core.figures.compute import compute
from rag_core.figures.metrics import items, read_request, render
from rag_core.figures.rows import TableRow, document_rows, parse_figure, table_rows

# The dev set's filings, read where they are (../shared/eval beside the checkout, or
# RAG_EVAL_DIR), never copied in.
EVAL_DIR = Path(
    os.environ.get("RAG_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval")
)
FILINGS = EVAL_DIR / "financebench-dev" / "pdfs"
needs_filings = pytest.mark.skipif(
    not FILINGS.is_dir(), reason="the FinanceBench dev filings are not beside the checkout"
)


def page_rows(name: str, page: int) -> list[TableRow]:
    extracted = pdf.read(FILINGS / name, 5000, 10**9)
    return list(table_rows(extracted.pages[page - 1].text, page))


def row(rows: list[TableRow], label: str) -> TableRow:
    return next(r for r in rows if r.label == label)


# --- rows from real filing pages -------------------------------------------------------


@needs_filings
def test_a_balance_sheet_row_has_its_years_unit_and_statement() -> None:
    rows = page_rows("ADOBE_2015_10K.pdf", 59)
    liabilities = row(rows, "Total current liabilities")
    assert liabilities.periods == (2015, 2014)  # "November 27, 2015" / "November 28, 2014"
    assert liabilities.cell(2015).value == 2_213_556  # type: ignore[union-attr]
    assert liabilities.unit == "thousands"
    assert liabilities.statement == "Consolidated Balance Sheets"
    assert liabilities.quote() == (
        "Total current liabilities | 2015: 2,213,556 | 2014: 2,494,435 | in thousands"
    )
    # A dash is no figure; parentheses are negative.
    assert row(rows, "Deferred income taxes").cell(2015).value is None  # type: ignore[union-attr]
    equity = row(rows, "Accumulated other comprehensive income (loss)")
    assert equity.cell(2015).value == -169_080  # type: ignore[union-attr]


@needs_filings
def test_rows_pdfium_ran_together_are_cut_apart() -> None:
    # General Mills' 2022 cash-flow page: several rows on one line, the header's years
    # on the line of the first row.
    rows = page_rows("GENERALMILLS_2022_10K.pdf", 49)
    dividends = row(rows, "Dividends paid")
    assert dividends.periods == (2022, 2021, 2020)
    assert [c.value for c in dividends.cells] == [-1244.5, -1246.4, -1195.8]
    assert dividends.unit == "millions"


@needs_filings
def test_a_date_split_over_two_lines_still_names_the_column() -> None:
    # "May 26," / "2019 May 27," / "2018 ASSETS Current assets:"
    rows = page_rows("GENERALMILLS_2019_10K.pdf", 55)
    receivables = row(rows, "Receivables")
    assert receivables.periods == (2019, 2018)
    assert receivables.cell(2018).value == 1684.2  # type: ignore[union-attr]


@needs_filings
def test_a_unit_note_on_the_header_line_is_not_a_column() -> None:
    # "(In millions, except share and per share amounts) 2020 2019"
    rows = page_rows("CORNING_2020_10K.pdf", 72)
    assert row(rows, "Accounts payable").periods == (2020, 2019)


def test_figures_as_printed() -> None:
    assert parse_figure("(1,577)").value == -1577  # type: ignore[union-attr]
    assert parse_figure("1,234(a)").value == 1234  # type: ignore[union-attr]
    assert parse_figure("12.5%").value == 12.5  # type: ignore[union-attr]
    assert parse_figure("—").value is None  # type: ignore[union-attr]
    assert parse_figure("(1,577") is None
    assert parse_figure("Total") is None


def test_a_row_whose_figures_do_not_match_its_header_is_left_out() -> None:
    text = (
        "CONSOLIDATED STATEMENTS OF OPERATIONS\n(In millions)\n2019 2018\n"
        "Revenue $ 1,000 $ 900 11.1 %\n"  # a "% change" column more: which is which?
        "Cost of sales 600 500\n"
        "Basic earnings per share 2.5 2.1\n"
    )
    rows = list(table_rows(text, 3))
    assert [r.label for r in rows] == ["Cost of sales", "Basic earnings per share"]
    assert rows[0].statement == "Consolidated Statements Of Operations"


def test_recognised_text_without_a_table_gives_no_rows() -> None:
    assert document_rows([(1, "SCANNED LETTER\nDear Sir, in 2019 we wrote 3 times.")]) == []


# --- the figure a question asks for ------------------------------------------------------


def test_a_definition_in_the_question_is_the_formula() -> None:
    request = read_request(
        "What is the FY2018 fixed asset turnover ratio for CVS Health? Fixed asset turnover "
        "ratio is defined as: FY2018 revenue / (average PP&E between FY2017 and FY2018). "
        "Round your answer to two decimal places."
    )
    assert request is not None
    assert render(request.formula) == (
        "revenue FY2018 / average(net property, plant and equipment FY2017, "
        "net property, plant and equipment FY2018)"
    )
    assert request.decimals == 2 and not request.percent and not request.money


def test_definitions_inside_definitions() -> None:
    request = read_request(
        "What is the FY2019 cash conversion cycle (CCC) for General Mills? CCC is defined as: "
        "DIO + DSO - DPO. DIO is defined as: 365 * (average inventory between FY2018 and "
        "FY2019) / (FY2019 COGS). DSO is defined as: 365 * (average accounts receivable "
        "between FY2018 and FY2019) / (FY2019 Revenue). DPO is defined as: 365 * (average "
        "accounts payable between FY2018 and FY2019) / (FY2019 COGS + change in inventory "
        "between FY2018 and FY2019). Round your answer to two decimal places."
    )
    assert request is not None
    names = {(i.name, i.year) for i in items(request.formula)}
    assert ("accounts receivable", 2018) in names and ("inventories", 2018) in names
    assert len(names) == 8  # inventories, receivables, payables for two years; COGS, revenue


@pytest.mark.parametrize(
    ("question", "formula"),
    [
        (
            "What is Adobe's year-over-year change in unadjusted operating income from FY2015 "
            "to FY2016 (in units of percents and round to one decimal place)?",
            "(operating income FY2016 - operating income FY2015) / operating income FY2015",
        ),
        (
            "What is Lockheed Martin's 2 year total revenue CAGR from FY2020 to FY2022 (in "
            "units of percents and round to one decimal place)?",
            "(revenue FY2022 / revenue FY2020)^(1/2) - 1",
        ),
        (
            "What is the FY2018 - FY2020 3 year average of capex as a % of revenue for MGM "
            "Resorts?",
            "average((capital expenditure FY2018 / revenue FY2018), (capital expenditure "
            "FY2019 / revenue FY2019), (capital expenditure FY2020 / revenue FY2020))",
        ),
        (
            "Using only the information within the balance sheet, how much total assets did "
            "Costco have at the end of FY2021? Answer in USD millions.",
            "total assets FY2021",
        ),
        (
            "What is the FY2015 depreciation and amortization (D&A from cash flow statement) % "
            "margin for AMD?",
            "depreciation and amortization FY2015 / revenue FY2015",
        ),
    ],
)
def test_metrics_named_without_a_definition(question: str, formula: str) -> None:
    request = read_request(question)
    assert request is not None
    assert render(request.formula) == formula


def test_a_question_asking_for_no_figure_has_no_request() -> None:
    assert read_request("Who is the chief executive of Foot Locker?") is None
    assert read_request("What is the notice period for termination?") is None


# --- computed, in the open --------------------------------------------------------------

BALANCE = (
    "CONSOLIDATED BALANCE SHEETS\n(In thousands)\nDecember 31, 2015 December 31, 2014\n"
    "Inventories 2,000 1,000\nTotal current liabilities $ 2,213,556 $ 2,494,435\n"
)
CASH_FLOWS = (
    "CONSOLIDATED STATEMENTS OF CASH FLOWS\n(In millions)\nYears Ended 2015 2014\n"
    "Net cash provided by operating activities 1,469.5 1,287.5\n"
    "Purchases of property and equipment (184.9) (148.3)\n"
    "Inventories (1,000) 500\n"
)


def rows_of(*pages: str) -> list[TableRow]:
    return document_rows(list(enumerate(pages, start=1)))


def test_operands_in_thousands_and_millions_are_computed_alike() -> None:
    request = read_request(
        "What is the FY2015 operating cash flow ratio? Operating cash flow ratio is defined "
        "as: cash from operations / total current liabilities. Round to two decimal places."
    )
    assert request is not None
    figure = compute(request, [7], {7: rows_of(BALANCE, CASH_FLOWS)})
    assert figure.complete
    assert figure.formatted() == "0.66"  # 1,469.5 million / 2,213,556 thousand
    assert [o.row.page for o in figure.operands] == [2, 1]


def test_an_outflow_is_an_amount_and_money_is_shown_in_the_unit_asked() -> None:
    request = read_request("What is the FY2015 capital expenditure amount (in USD billions)?")
    assert request is not None and request.money
    figure = compute(request, [1], {1: rows_of(BALANCE, CASH_FLOWS)})
    assert figure.formatted() == "$0.18 billion"  # (184.9) million, shown positive


def test_a_balance_is_not_read_from_the_cash_flow_statement() -> None:
    # The cash-flow statement's "Inventories" row is a change, not the balance.
    request = read_request("What is the year end FY2015 total amount of inventories?")
    assert request is not None
    figure = compute(request, [1], {1: rows_of(CASH_FLOWS, BALANCE)})
    assert figure.operands[0].row.statement == "Consolidated Balance Sheets"
    assert figure.formatted() == "$2,000.00 thousand"


def test_a_missing_operand_computes_nothing() -> None:
    request = read_request(
        "What is the FY2015 inventory turnover ratio? Inventory turnover ratio is defined as: "
        "(FY2015 COGS) / (average inventory between FY2014 and FY2015)."
    )
    assert request is not None
    figure = compute(request, [1], {1: rows_of(BALANCE, CASH_FLOWS)})
    assert not figure.complete and figure.value is None
    assert [f"{i.name} {i.year}" for i in figure.missing] == ["cost of goods sold 2015"]


def test_operands_come_from_the_document_holding_them_all() -> None:
    request = read_request(
        "What is the FY2015 operating cash flow ratio? Operating cash flow ratio is defined "
        "as: cash from operations / total current liabilities."
    )
    assert request is not None
    other = rows_of(BALANCE.replace("2,213,556", "9,999,999"))
    figure = compute(request, [3, 4], {3: other, 4: rows_of(BALANCE, CASH_FLOWS)})
    assert {o.document_id for o in figure.operands} == {4}


def test_a_spreadsheet_row_reads_like_a_pdf_row() -> None:
    # Sheets and Word tables come as "cell | cell | cell" (`extract.common.table_row`).
    text = "Budget (in thousands)\nLine item | FY2024 | FY2023\nRevenue | 1,200 | 1,000\n"
    rows = list(table_rows(text, None))
    assert [(r.label, r.periods, r.cell(2024).value) for r in rows] == [  # type: ignore[union-attr]
        ("Revenue", (2024, 2023), 1200)
    ]
    assert rows[0].unit == "thousands"


def test_a_bare_year_asks_for_a_known_line_item_only() -> None:
    request = read_request("What was capital expenditure in 2021?")
    assert request is not None and render(request.formula) == "capital expenditure FY2021"
    assert read_request("What was the population of Warsaw in 2010?") is None


def test_a_spreadsheet_row_with_year_headers_is_a_row() -> None:
    # `extract.sheets` writes each row under its header: "Header: value; ...".
    rows = list(table_rows("Line item: Capital expenditures; FY2024: -1577; FY2023: 1373.5", 1))
    assert [(r.label, r.periods, [c.value for c in r.cells]) for r in rows] == [
        ("Capital expenditures", (2024, 2023), [-1577, 1373.5])
    ]


def test_per_share_amounts_and_percentages_are_not_scaled_by_the_unit() -> None:
    text = (
        "CONSOLIDATED STATEMENTS OF INCOME\n(In millions, except per share data)\n2019 2018\n"
        "Net income 11,588 10,073\nDiluted earnings per share 23.01 20.14\n"
        "Gross margin 25.1% 24.3%\n"
    )
    units = {r.label: r.unit for r in table_rows(text, 1)}
    assert units == {
        "Net income": "millions",
        "Diluted earnings per share": "",
        "Gross margin": "",
    }


def test_operands_in_two_filings_are_taken_from_each() -> None:
    request = read_request(
        "What is the 3 year total revenue CAGR from FY2018 to FY2021 (in percents)?"
    )
    assert request is not None
    recent = rows_of(
        "STATEMENTS OF OPERATIONS\n(In millions)\n2021 2020\nTotal revenue 1,331 1,210"
    )
    older = rows_of("STATEMENTS OF OPERATIONS\n(In millions)\n2018 2017\nTotal revenue 1,000 950")
    figure = compute(request, [1, 2], {1: recent, 2: older})
    assert figure.formatted() == "10.0%"  # (1,331 / 1,000)^(1/3) - 1
    assert [o.document_id for o in figure.operands] == [2, 1]


@needs_filings
def test_a_sections_subtotal_on_its_last_rows_line_is_a_row_of_its_own() -> None:
    # MGM: "Reimbursed costs 244,949 436,887 425,492 5,162,082 12,899,672 11,763,096".
    rows = page_rows("MGMRESORTS_2020_10K.pdf", 65)
    assert row(rows, "Reimbursed costs").cell(2020).value == 244_949  # type: ignore[union-attr]
    total = row(rows, "Revenues (total)")
    assert [c.value for c in total.cells] == [5_162_082, 12_899_672, 11_763_096]
    assert total.statement == "Consolidated Statements Of Operations"


@needs_filings
def test_a_label_over_two_lines_is_joined() -> None:
    # Coca-Cola: "NET INCOME ATTRIBUTABLE TO SHAREOWNERS OF" / "THE COCA-COLA COMPANY $ 1,248 …"
    rows = page_rows("COCACOLA_2017_10K.pdf", 74)
    joined = row(rows, "NET INCOME ATTRIBUTABLE TO SHAREOWNERS OF THE COCA-COLA COMPANY")
    assert joined.cell(2017).value == 1248  # type: ignore[union-attr]


def test_figures_inside_a_label_stay_in_it() -> None:
    text = (
        "Consolidated Balance Sheets Corning Incorporated\n(In millions)\n2021 2020\n"
        "Trade accounts receivable, net of doubtful accounts - $42 and $46 2,004 2,133\n"
        "Inventories, net (Note 6) 2,481 2,438\n"
    )
    rows = list(table_rows(text, 67))
    assert [(r.label, [c.value for c in r.cells]) for r in rows] == [
        ("Trade accounts receivable, net of doubtful accounts - $42 and $46", [2004, 2133]),
        ("Inventories, net (Note 6)", [2481, 2438]),
    ]
    assert rows[0].statement == "Consolidated Balance Sheets"  # the company's name follows


def test_a_statement_named_in_a_notes_prose_is_not_the_pages_statement() -> None:
    text = (
        "Grand Victoria sale. The gain was recorded in the consolidated statements of\n"
        "operations. Summarized results of the venture:\n(In thousands)\n2020 2019\n"
        "Net revenues $ 869,638 $ 1,294,861\n"
    )
    (only,) = table_rows(text, 80)
    assert only.statement == ""
    request = read_request("What was FY2020 revenue in USD millions?")
    assert request is not None
    # A note's table (a venture's, a segment's) does not give the company's figure.
    assert not compute(request, [1], {1: [only]}).complete


def test_the_companys_name_may_come_before_the_title() -> None:
    (only,) = table_rows(
        "NIKE, Inc. Consolidated Statements of Income\n(In millions)\n2018 2017\nRevenues 1 2", 1
    )
    assert only.statement == "Consolidated Statements Of Income"


def test_a_table_continued_without_its_header_gives_no_rows() -> None:
    # The second page of a statement that does not repeat its years: which column is
    # which year is not known, so no row is stored (its text still is, in the passages).
    continued = "Total current liabilities 2,213,556 2,494,435\nTotal assets 11,726,472 10,785,829"
    assert list(table_rows(continued, 60)) == []


def test_a_header_over_several_lines_names_the_columns() -> None:
    text = (
        "CONSOLIDATED STATEMENTS OF CASH FLOWS\n(In millions)\nYear Ended\nDecember 31,\n"
        "2020 2019 2018\nDepreciation and amortization 604 582 545\n"
    )
    (only,) = table_rows(text, 1)
    assert only.periods == (2020, 2019, 2018)
    assert only.statement == "Consolidated Statements Of Cash Flows"


def test_a_quarters_columns_are_not_fiscal_years() -> None:
    # A 10-Q: three and six months side by side; neither is the fiscal year.
    text = (
        "CONDENSED CONSOLIDATED STATEMENTS OF EARNINGS\n(In millions)\n"
        "Three Months Ended Six Months Ended\n"
        "July 2, 2023 July 3, 2022 July 2, 2023 July 3, 2022\n"
        "Sales to customers $ 25,530 $ 24,020 $ 50,276 $ 47,446\n"
    )
    assert list(table_rows(text, 4)) == []
    quarter = (
        "STATEMENTS OF OPERATIONS\n(In millions)\nThree Months Ended June 30,\n2023 2022\nSales 5 4"
    )
    assert list(table_rows(quarter, 1)) == []
