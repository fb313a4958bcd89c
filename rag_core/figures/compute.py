"""A requested figure computed from table rows, every operand traced to its row.

For each operand (a line item in a year) the row is looked for in the documents the
question's search found, in their order: a row whose label holds the item, on the
statement the item is read from first (the balance sheet for assets, the cash-flow
statement for capital expenditure), with a figure in that year's column.  All operands
come from one document when one holds them all.  The arithmetic is done here, on the
figures as printed in their rows (scaled by the row's unit, so thousands and millions
mix correctly); an operand that no row holds leaves the figure uncomputed, and the
answer says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag_core.figures.concepts import Concept, excluded, label_matches, statement_kind
from rag_core.figures.metrics import Expr, Item, Number, Request, items, render
from rag_core.figures.rows import UNITS, TableRow


@dataclass(frozen=True)
class Operand:
    item: Item
    document_id: int
    row: TableRow
    value: float  # the figure in units of one (dollars), sign as the item means it

    def shown(self) -> str:
        """The figure as printed in its row, with the unit: "1,469,502 (thousands)"."""
        cell = self.row.cell(self.item.year)
        raw = cell.raw if cell is not None else "?"
        return f"{raw} ({self.row.unit})" if self.row.unit else raw


@dataclass(frozen=True)
class Figure:
    request: Request
    operands: tuple[Operand, ...]
    missing: tuple[Item, ...]  # operands no row holds: nothing is computed
    value: float | None  # as shown: times 100 for a percentage, in `unit` for money
    unit: str  # the unit `value` is in, for money ("millions"); "" otherwise

    @property
    def complete(self) -> bool:
        return self.value is not None and not self.missing

    def formatted(self) -> str:
        """The result as shown: "0.66", "65.4%", "$11,588.00 million"."""
        assert self.value is not None
        request = self.request
        if request.percent:
            return f"{self.value:.{_decimals(request, 1)}f}%"
        if request.money:
            sign = "-" if self.value < 0 else ""
            text = f"{sign}${abs(self.value):,.{_decimals(request, 2)}f}"
            return f"{text} {self.unit[:-1]}" if self.unit else text
        return f"{self.value:,.{_decimals(request, 2)}f}"

    def formula(self) -> str:
        return render(self.request.formula)


def _decimals(request: Request, default: int) -> int:
    return request.decimals if request.decimals is not None else default


def _candidates(item: Item, rows: Sequence[TableRow]) -> list[TableRow]:
    """Rows holding the item's figure for its year, the likeliest first: on the
    statement it is read from, then in page order."""
    found = []
    for position, row in enumerate(rows):
        cell = row.cell(item.year)
        if cell is None or cell.value is None or not label_matches(item.concept, row.label):
            continue
        kind = statement_kind(row.statement)
        if isinstance(item.concept, Concept) and excluded(item.concept, kind):
            continue
        if isinstance(item.concept, Concept):
            if not kind:  # a note's table: often a segment's or a venture's figure
                continue
            rank = 0 if kind == item.concept.statement else 1
        else:
            rank = 0 if kind else 1
        # A row on a page that names no unit may be in millions or in units.
        found.append((rank, not row.unit, position, row))
    return [row for *_, row in sorted(found, key=lambda f: f[:3])]


def _operand(item: Item, document_id: int, rows: Sequence[TableRow]) -> Operand | None:
    candidates = _candidates(item, rows)
    if not candidates:
        return None
    row = candidates[0]
    cell = row.cell(item.year)
    assert cell is not None and cell.value is not None
    value = cell.value * row.scale
    if isinstance(item.concept, Concept) and item.concept.outflow:
        value = abs(value)
    return Operand(item, document_id, row, value)


def _evaluate(expr: Expr, values: Mapping[Item, float]) -> float | None:
    if isinstance(expr, Item):
        return values.get(expr)
    if isinstance(expr, Number):
        return expr.value
    args = [_evaluate(a, values) for a in expr.args]
    if any(a is None for a in args):
        return None
    numbers = [a for a in args if a is not None]
    if expr.op == "avg":
        return sum(numbers) / len(numbers)
    if expr.op == "cagr":
        old, new, years = numbers
        if old <= 0 or new <= 0 or years <= 0:
            return None
        return float((new / old) ** (1 / years) - 1)
    left, right = numbers
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if right == 0:
        return None
    return left / right


def compute(
    request: Request, documents: Sequence[int], rows: Mapping[int, Sequence[TableRow]]
) -> Figure:
    """The figure `request` asks for, from the rows of `documents` (searched in that
    order): every operand from the first document that holds them all, else from the
    document holding most, and the rest from the others."""
    wanted = items(request.formula)
    best: dict[Item, Operand] = {}
    for document_id in documents:
        found = {
            item: operand
            for item in wanted
            if (operand := _operand(item, document_id, rows.get(document_id, ()))) is not None
        }
        if len(found) > len(best):
            best = found
        if len(best) == len(wanted):
            break
    for document_id in documents:  # what the best document lacks, from the next that has it
        for item in wanted:
            if item not in best:
                operand = _operand(item, document_id, rows.get(document_id, ()))
                if operand is not None:
                    best[item] = operand
    missing = tuple(i for i in wanted if i not in best)
    operands = tuple(best[i] for i in wanted if i in best)
    if missing:
        return Figure(request, operands, missing, None, "")
    value = _evaluate(request.formula, {o.item: o.value for o in operands})
    unit = ""
    if value is not None:
        if request.percent:
            value *= 100
        elif request.money:
            unit = request.unit or operands[0].row.unit
            value /= UNITS.get(unit, 1.0)
    return Figure(request, operands, (), value, unit)
