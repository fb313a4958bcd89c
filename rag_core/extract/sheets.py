"""Spreadsheets (.xlsx) and .csv: each row as "Header: value; Header: value", so every
passage carries its column names; rows grouped into units of about one passage, each
cited "Sheet S, rows a-b".  Formulas read as the values Excel last saved."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag_core.errors import ExtractionFailed, FileRefused
from rag_core.extract.common import MAX_ROWS, Extracted, Page, TextBuilder, check_package
from rag_core.extract.pdftext import too_many_chars
from rag_core.extract.text import read_text

UNIT_CHARS = 600  # rows put together in one cited unit: about one passage


def read_xlsx(path: Path, max_pages: int, max_chars: int) -> Extracted:
    import openpyxl

    check_package(path)
    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged package
        raise ExtractionFailed("damaged or unreadable Excel workbook") from exc
    try:
        sheets = [(sheet.title, sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
        pages = _units(sheets, max_pages, max_chars)
        title = (book.properties.title or "").strip()
    finally:
        book.close()
    return Extracted(pages, title, "xlsx")


def read_csv(path: Path, max_pages: int, max_chars: int) -> Extracted:
    text = read_text(path, max_chars)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    return Extracted(_units([(path.stem, rows)], max_pages, max_chars), "", "csv")


def _units(
    sheets: Sequence[tuple[str, Iterable[Sequence[Any]]]], max_pages: int, max_chars: int
) -> list[Page]:
    pages: list[Page] = []
    chars = rows_read = 0
    for name, rows in sheets:
        for first, last, lines in _row_groups(rows):
            rows_read += last - first + 1
            if rows_read > MAX_ROWS:
                raise FileRefused(f"more than {MAX_ROWS:,} rows (the limit); split the file")
            text = TextBuilder()
            rows_label = f"rows {first}–{last}" if first != last else f"row {first}"
            text.heading(0, f"Sheet {name}, {rows_label}")
            for line in lines:
                text.add(line)
            chars += text.chars
            if chars > max_chars:
                raise FileRefused(too_many_chars(max_chars))
            if len(pages) >= max_pages * 50:
                raise FileRefused(f"more than {max_pages * 50:,} groups of rows (the limit)")
            pages.append(text.page())
    return pages


def _row_groups(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[int, int, list[str]]]:
    """(first row, last row, lines) of about UNIT_CHARS each; the first non-empty row
    is the header, written into every line after it."""
    header: list[str] | None = None
    header_row = first = last = size = 0
    group: list[str] = []
    for number, row in enumerate(rows, start=1):
        cells = [_cell(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header, header_row = cells, number
            continue
        line = "; ".join(
            f"{header[i]}: {value}" if i < len(header) and header[i] else value
            for i, value in enumerate(cells)
            if value
        )
        if group and size + len(line) > UNIT_CHARS:
            yield first, last, group
            group, size = [], 0
        if not group:
            first = number
        group.append(line)
        size += len(line)
        last = number
    if group:
        yield first, last, group
    elif header is not None:  # a sheet of one row: that row is its content
        yield header_row, header_row, [" | ".join(c for c in header if c)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())
