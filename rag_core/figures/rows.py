"""A page's table rows with the headers that say what each figure is.

PDFium puts a table's row on one line ("Total current assets 4,821,892 4,602,328") and
the cleaning puts back figures that came out one per line (`extract.cleaning`); what a
row lacks is its context: which column is which year, the unit ("In thousands") and the
statement it belongs to ("Consolidated Balance Sheets").  Those are read from the lines
above it on the same page:
- a header is a short line whose only numbers are years, or dates ("November 27, 2015");
  consecutive header lines add up ("November 27, 2015" / "November 28, 2014");
- a row is a label followed by as many figures as the header has years, and only then
  (a row with a "% change" column more, or a header not understood, is left out rather
  than given the wrong year);
- figures: "(1,577)" is -1,577, "—" is no figure, "1,234(a)" drops its footnote mark,
  "$" stands apart.
A scanned page's recognised text has no reliable lines: it is read the same way, and
what does not parse is simply not a row (the passages still hold its text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Raised when what is read from a page changes, so stores built with the old reading
# (an evaluation's own database) are built again.
ROWS_VERSION = 3
UNITS = {"thousands": 1e3, "millions": 1e6, "billions": 1e9}
MAX_LABEL_CHARS = 300

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = re.compile(rf"\b{_MONTH}\s+\d{{1,2}},?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_YEAR = re.compile(r"^(?:fy|fiscal)?'?((?:19|20)\d\d)[,)]?$", re.IGNORECASE)
_FIGURE = re.compile(r"^(\()?-?\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%)?(\))?%?(?:\([a-z]\)|\*)?$")
_DASHES = frozenset("—–-") | {"--", "—%", "-%"}
_UNIT = re.compile(r"\bin\s+(thousands|millions|billions)\b", re.IGNORECASE)
# The statements a filing's primary tables belong to, as their titles name them, at the
# start of a line or after the company's name ("NIKE, Inc. Consolidated Statements of
# Income"): a note that mentions "the consolidated statements of operations" in its
# prose is not one.
_STATEMENT = re.compile(
    r"^[ \t]*(?-i:(?:[A-Z][\w&.,'’-]*[ \t]+){0,6}?)((?:consolidated\s+|combined\s+|condensed\s+)*"
    r"(?:balance\s+sheets?|income\s+statements?|cash\s+flows?\s+statements?"
    r"|statements?\s+of\s+(?:consolidated\s+)?(?:operations|income|earnings|cash\s+flows?"
    r"|financial\s+(?:position|condition)|comprehensive\s+(?:income|loss|\(?loss\)?\s+income)"
    r"|(?:stockholders|shareholders)['’]?\s+(?:equity|deficit)"
    r"|changes\s+in\s+[a-z'’ ]{0,30}?equity)"
    r"(?:\s+and\s+comprehensive\s+(?:income|loss|\(?loss\)?\s+income))?))\b",
    re.IGNORECASE | re.MULTILINE,
)
# "(In millions, except share and per share amounts)": the unit, not a column's name.
_UNIT_NOTE = re.compile(r"\([^()]*\bin\s+(?:thousands|millions|billions)\b[^()]*\)", re.I)
# A date whose year went to the next line ("May 26," / "2019 May 27,"): put back.
_SPLIT_DATE = re.compile(rf"(\b{_MONTH}\s+\d{{1,2}},?)[ \t]*\n[ \t]*((?:19|20)\d\d)\b", re.I)
_HEADER_WORDS = frozenset(
    [
        "year",
        "years",
        "ended",
        "ending",
        "fiscal",
        "for",
        "the",
        "as",
        "of",
        "at",
        "and",
        "months",
        "quarter",
        "three",
        "six",
        "nine",
        "twelve",
        "weeks",
        "week",
        "restated",
        "change",
        "%",
        "unaudited",
        "period",
        "periods",
    ]
)


@dataclass(frozen=True)
class Cell:
    raw: str  # as printed, "(1,577)", "—", "12.5%"
    value: float | None  # -1577.0; None for a dash


@dataclass(frozen=True)
class TableRow:
    page: int | None
    label: str
    periods: tuple[int, ...]  # the year of each column, as the header names it
    cells: tuple[Cell, ...]
    unit: str  # "thousands", "millions", "billions", or "" when the page names none
    statement: str  # "Consolidated Balance Sheets", or "" when the page names none

    def cell(self, period: int) -> Cell | None:
        """The figure of `period`'s column (the first such column), if the row has one."""
        for year, cell in zip(self.periods, self.cells, strict=True):
            if year == period:
                return cell
        return None

    @property
    def scale(self) -> float:
        return UNITS.get(self.unit, 1.0)

    def quote(self) -> str:
        """The row as it is quoted: "Total current assets | 2015: 4,821,892 | 2014:
        4,602,328 | in thousands"."""
        parts = [self.label] + [
            f"{y}: {c.raw}" for y, c in zip(self.periods, self.cells, strict=True)
        ]
        if self.unit:
            parts.append(f"in {self.unit}")
        return " | ".join(parts)


def parse_figure(token: str) -> Cell | None:
    """One printed figure, or None when `token` is not one."""
    if token in _DASHES:
        return Cell(token, None)
    match = _FIGURE.match(token)
    if not match:
        return None
    opened, whole, fraction, _percent, closed = match.groups()
    if bool(opened) != bool(closed):
        return None
    value = float(whole.replace(",", "") + (fraction or ""))
    if opened or token.startswith("-") or token.startswith("$-"):
        value = -value
    return Cell(token, value)


def _figures_at_end(line: str, most: int | None = None) -> tuple[str, list[Cell]]:
    """The line's label and the figures that end it (at most `most` of them: the
    others stay in the label)."""
    tokens = line.split()
    cells: list[Cell] = []
    while tokens and (most is None or len(cells) < most):
        token = tokens[-1]
        if token == "$":
            tokens.pop()
            continue
        if token.startswith("$") and len(token) > 1 and token[1] != "(":
            token = token[1:]
        cell = parse_figure(token)
        if cell is None:
            break
        # "… at December 31, 2015 1,234": the year belongs to the label.
        if (
            _YEAR.match(token)
            and len(tokens) > 1
            and (tokens[-2].endswith(",") or re.fullmatch(_MONTH, tokens[-2], re.IGNORECASE))
        ):
            break
        cells.append(cell)
        tokens.pop()
    return " ".join(tokens).rstrip(" .:$"), cells[::-1]


def header_years(line: str) -> list[int] | None:
    """The years a header line names, in order, or None when it is not a header."""
    text = _DATE.sub(lambda m: f" {m.group(1)} ", _UNIT_NOTE.sub(" ", line))
    years: list[int] = []
    others = 0
    for token in text.replace("(", " ").replace(")", " ").split():
        if match := _YEAR.match(token):
            years.append(int(match.group(1)))
        elif any(ch.isdigit() for ch in token):
            return None
        elif token.lower().strip(",.:") not in _HEADER_WORDS:
            others += 1
    if not years or others > 6:
        return None
    return years


def _statement(lines: Sequence[str]) -> str:
    """The statement a page's first lines name ("Consolidated Balance Sheets")."""
    top = "\n".join(lines)  # a title may be broken over lines ("CONSOLIDATED" / "BALANCE")
    match = _STATEMENT.search(top)
    if not match:
        return ""
    return " ".join(match.group(1).split()).title().replace("’S", "’s").replace("'S", "'s")


def split_rows(line: str) -> list[str]:
    """A line PDFium made of several rows ("Net sales $ 18,992.8 $ 18,127.0 Cost of
    sales 12,590.6 …") cut where a figure is followed by a capitalised word."""
    tokens = line.split()
    pieces: list[list[str]] = [[]]
    for token in tokens:
        previous = pieces[-1][-1] if pieces[-1] else ""
        if (
            previous
            and token[:1].isupper()
            and (previous in _DASHES or parse_figure(previous.lstrip("$")) is not None)
        ):
            pieces.append([])
        pieces[-1].append(token)
    return [" ".join(p) for p in pieces if p]


def sheet_row(line: str, page: int | None, unit: str) -> TableRow | None:
    """A spreadsheet's row as `extract.sheets` writes it ("Line item: Revenue; FY2024:
    1200; FY2023: 1000"): the columns headed by a year are its figures, the others its
    label."""
    label: list[str] = []
    periods: list[int] = []
    cells: list[Cell] = []
    for part in line.split("; "):
        key, _, value = part.partition(": ")
        year = header_years(key) if value else None
        cell = parse_figure(value.strip().replace(" ", "")) if year and len(year) == 1 else None
        if year and len(year) == 1 and cell is not None:
            periods.append(year[0])
            cells.append(cell)
        else:
            label.append(value or key)
    if not periods or not label or all(c.value is None for c in cells):
        return None
    return TableRow(page, " ".join(label)[:MAX_LABEL_CHARS], tuple(periods), tuple(cells), unit, "")


def _page_lines(text: str) -> list[str]:
    text = _SPLIT_DATE.sub(lambda m: f"{m.group(1)} {m.group(2)}\n", text)
    return [
        piece
        for line in text.splitlines()
        if line.strip()
        # A spreadsheet's or a Word table's row comes as "cell | cell | cell".
        for piece in split_rows(line.replace(" | ", " ").strip())
    ]


def table_rows(text: str, page: int | None) -> Iterator[TableRow]:
    """The rows of the tables on one page, each with its columns' years, unit and
    statement."""
    lines = _page_lines(text)
    unit_match = _UNIT.search(" ".join(lines[:15]))
    unit = unit_match.group(1).lower() if unit_match else ""
    statement = _statement(lines[:8])
    years: list[int] = []  # the columns' years; empty: none known (no row is read)
    in_header = False
    pending = ""  # a label's first line, when the label ran over two
    heading = ""  # the last line without figures: "Revenues", "Current assets:"
    interim = False  # the header's columns are quarters or months, not fiscal years
    for index, line in enumerate(lines):
        if "; " in line and ": " in line and (row := sheet_row(line, page, unit)) is not None:
            yield row
            continue
        found = header_years(line)
        if found is not None:
            years = years + found if in_header and found != years[-len(found) :] else found
            # Quarters ("Three Months Ended" above or on the header) are no fiscal
            # years, nor is a year named twice (a 10-Q's three and six months).
            near = " ".join(lines[max(0, index - 2) : index + 1])
            interim = (in_header and interim) or bool(_INTERIM.search(near))
            in_header, pending = True, ""
            continue
        in_header = False
        if (match := _UNIT.search(line)) and len(line) < 120:
            unit = match.group(1).lower()
        label, cells = _figures_at_end(line)
        if not cells:
            pending = line if len(line) < MAX_LABEL_CHARS and not line.endswith(":") else ""
            heading = line.rstrip(":") if len(line) < 80 else ""
            continue
        if pending and (label[:1].islower() or _RUNS_ON.search(pending)):
            label = f"{pending} {label}"
        pending = ""
        if interim or not years or len(set(years)) < len(years):
            continue
        if any(ch.isalpha() for ch in label):
            yield from _rows_of_line(page, line, label, cells, years, heading, unit, statement)


def _rows_of_line(
    page: int | None,
    line: str,
    label: str,
    cells: list[Cell],
    years: Sequence[int],
    heading: str,
    unit: str,
    statement: str,
) -> Iterator[TableRow]:
    """The row a line holds, when its figures fit the header's years, and the section
    subtotal printed after them."""
    width = len(years)
    if len(cells) == 2 * width and heading:
        # "Reimbursed costs 244,949 … 5,162,082 12,899,672 11,763,096": the section's
        # subtotal printed on its last row's line, with no label of its own.
        yield from _row(page, f"{heading} (total)", years, cells[width:], unit, statement)
        cells = cells[:width]
    elif width < len(cells) < 2 * width and _RUNS_ON.search(label):
        # "… doubtful accounts - $42 and $46 2,004 2,133": the first figures are the
        # label's own.
        label, cells = _figures_at_end(line, most=width)
    if len(cells) == width:
        yield from _row(page, label, years, cells, unit, statement)


# Columns of quarters or months: a 10-Q's "Three Months Ended June 30, 2023 2022".
_INTERIM = re.compile(r"\b(?:three|six|nine|3|6|9)[ -]months?\b|\bquarters?\b", re.IGNORECASE)
# A label's first line that cannot end it ("NET INCOME ATTRIBUTABLE TO SHAREOWNERS OF").
_RUNS_ON = re.compile(r"(?:\b(?:of|to|and|for|in|the|from|on|by)|[&,-])$", re.IGNORECASE)


def _row(
    page: int | None,
    label: str,
    years: Sequence[int],
    cells: Sequence[Cell],
    unit: str,
    statement: str,
) -> Iterator[TableRow]:
    if len(label) > MAX_LABEL_CHARS or all(c.value is None for c in cells):
        return
    # "(In millions, except per share data)": a per-share amount or a percentage is as
    # printed, whatever the table's unit.
    as_printed = "per share" in label.lower() or any(c.raw.endswith("%") for c in cells)
    yield TableRow(page, label, tuple(years), tuple(cells), "" if as_printed else unit, statement)


def document_rows(pages: Sequence[tuple[int | None, str]]) -> list[TableRow]:
    """Every page's rows, in page order."""
    return [row for number, text in pages for row in table_rows(text, number)]
