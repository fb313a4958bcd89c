"""What figure a question asks for, as a formula over line items and years.

Read from the question's own words, in this order:
1. a definition it gives ("ROA is defined as: FY2017 net income / (average total assets
   between FY2016 and FY2017)", "Define working capital ratio as total current assets
   divided by total current liabilities"), definitions inside definitions included;
2. a metric it names that `KNOWN` defines (margins, turnovers, days outstanding, ratios);
3. a pattern around line items: "year-over-year change in X from FY2015 to FY2016",
   "2 year X CAGR from FY2020 to FY2022", "3 year average X % margin", "X as a % of Y",
   "X + Y";
4. one line item for one year ("the FY2019 total amount of inventories").
What it cannot read returns None: the answer then rests on the quotes alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from rag_core.figures.concepts import BALANCE, CASH, INCOME, Concept, concept_for

# --- the formula ---------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One line item in one year: an operand the rows must hold."""

    concept: Concept | str  # a known concept, or the question's phrase
    year: int

    @property
    def name(self) -> str:
        return self.concept.name if isinstance(self.concept, Concept) else self.concept


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Apply:
    op: str  # "+", "-", "*", "/", "avg", "cagr"
    args: tuple[Expr, ...]


Expr = Union[Item, Number, Apply]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Request:
    """A figure asked for: its formula, what it is called, and how to show it."""

    name: str
    formula: Expr
    percent: bool  # shown times 100 with "%"
    money: bool  # an amount of money (shown in `unit`)
    unit: str  # "millions", "billions", "thousands" or "" (as printed)
    decimals: int | None  # as asked ("round to two decimal places"), None: not said
    # The companies the question names ("General Mills"; "Block", "Square" for "Block's
    # (formerly known as Square)"): a figure comes only from a document that names one.
    companies: tuple[str, ...] = ()


def items(expr: Expr) -> list[Item]:
    """The operands of a formula, in order, each once."""
    if isinstance(expr, Item):
        return [expr]
    if isinstance(expr, Apply):
        return list(dict.fromkeys(i for a in expr.args for i in items(a)))
    return []


def render(expr: Expr, show: Callable[[Item], str] | None = None, top: bool = True) -> str:
    """The formula in words, "cash from operations FY2015 / total current liabilities
    FY2015", or with each operand written by `show` (its figure)."""
    if isinstance(expr, Item):
        return show(expr) if show is not None else f"{expr.name} FY{expr.year}"
    if isinstance(expr, Number):
        return f"{expr.value:g}"
    parts = [render(a, show, False) for a in expr.args]
    if expr.op == "avg":
        return f"average({', '.join(parts)})"
    if expr.op == "cagr":
        return f"({parts[1]} / {parts[0]})^(1/{parts[2]}) - 1"
    text = f" {expr.op} ".join(parts)
    return text if top else f"({text})"


# --- reading a formula's words -------------------------------------------------------

# "FY2019", "fiscal 2019", "fiscal year 2019", or a bare "2019".
_FY = r"(?:fy|fiscal(?: year)?\s*)?\s?'?((?:19|20)\d\d)"
_AVERAGE = re.compile(rf"^average (.+?) between {_FY} and {_FY}$")
_CHANGE = re.compile(rf"^change in (.+?) between {_FY} and {_FY}$")
_LEADING_YEAR = re.compile(rf"^(?:year end )?{_FY}\s+(.+)$")
_TRAILING_YEAR = re.compile(rf"^(.+?)\s+(?:for|in|of)?\s*{_FY}$")
_OPERATORS = re.compile(
    r"\s*(\+|(?<!\w)-(?!\w)|\*|/|×|\(|\)| plus | minus | less | divided by | times )\s*"
)
_OP_WORDS = {"plus": "+", "minus": "-", "less": "-", "divided by": "/", "times": "*", "×": "*"}


class _Parser:
    """A formula in words, with + - * / and parentheses; operands are line items
    ("FY2020 COGS"), "average X between FYa and FYb", "change in X between FYa and
    FYb", numbers, or names another definition gives."""

    def __init__(self, text: str, year: int, names: dict[str, str], depth: int = 0) -> None:
        pieces = [p for p in _OPERATORS.split(f" {text.lower()} ") if p and p.strip()]
        self.tokens = [_OP_WORDS.get(p.strip(), p.strip()) for p in pieces]
        self.at = 0
        self.year = year
        self.names = names
        self.depth = depth

    def parse(self) -> Expr | None:
        expr = self._sum()
        return expr if expr is not None and self.at == len(self.tokens) else None

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _sum(self) -> Expr | None:
        return self._chain(("+", "-"), self._product)

    def _product(self) -> Expr | None:
        return self._chain(("*", "/"), self._atom)

    def _chain(self, ops: tuple[str, ...], operand: Callable[[], Expr | None]) -> Expr | None:
        """Operands joined by `ops`, left to right."""
        left = operand()
        while left is not None and self._peek() in ops:
            op = self.tokens[self.at]
            self.at += 1
            right = operand()
            left = Apply(op, (left, right)) if right is not None else None
        return left

    def _atom(self) -> Expr | None:
        token = self._peek()
        if token is None or token in "+-*/)":
            return None
        self.at += 1
        if token == "(":
            inner = self._sum()
            if inner is None or self._peek() != ")":
                return None
            self.at += 1
            return inner
        return self._operand(token)

    def _operand(self, text: str) -> Expr | None:
        text = text.strip(" .,")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return Number(float(text))
        if (named := self.names.get(text)) is not None and self.depth < 3:
            return _Parser(named, self.year, self.names, self.depth + 1).parse()
        if match := _AVERAGE.match(text):
            phrase, first, last = match.group(1), int(match.group(2)), int(match.group(3))
            return Apply("avg", (_item(phrase, first), _item(phrase, last)))
        if match := _CHANGE.match(text):
            phrase, first, last = match.group(1), int(match.group(2)), int(match.group(3))
            return Apply("-", (_item(phrase, last), _item(phrase, first)))
        year = self.year
        if match := _LEADING_YEAR.match(text):
            year, text = int(match.group(1)), match.group(2)
        elif match := _TRAILING_YEAR.match(text):
            text, year = match.group(1), int(match.group(2))
        if not re.search(r"[a-z]", text):
            return None
        return _item(text, year)


def _item(phrase: str, year: int) -> Item:
    phrase = re.sub(r"\b(?:unadjusted|the|amount of)\b", " ", phrase)
    phrase = " ".join(phrase.split())
    return Item(concept_for(phrase) or phrase, year)


# --- metrics a question names without defining them ----------------------------------

KNOWN: dict[str, str] = {
    "operating cash flow ratio": "cash from operations / total current liabilities",
    "working capital ratio": "total current assets / total current liabilities",
    "current ratio": "total current assets / total current liabilities",
    "net working capital": "total current assets - total current liabilities",
    "working capital": "total current assets - total current liabilities",
    "return on assets": "net income / (average total assets between FY{p} and FY{y})",
    "roa": "net income / (average total assets between FY{p} and FY{y})",
    "asset turnover ratio": "revenue / (average total assets between FY{p} and FY{y})",
    "fixed asset turnover ratio": "revenue / (average pp&e between FY{p} and FY{y})",
    "inventory turnover ratio": "cogs / (average inventory between FY{p} and FY{y})",
    "days payable outstanding": "365 * (average accounts payable between FY{p} and FY{y})"
    " / (cogs + change in inventory between FY{p} and FY{y})",
    "dpo": "365 * (average accounts payable between FY{p} and FY{y})"
    " / (cogs + change in inventory between FY{p} and FY{y})",
    "retention ratio": "(net income - cash dividends paid) / net income",
    "unadjusted ebitda": "operating income + depreciation and amortization",
    "ebitda": "operating income + depreciation and amortization",
    "net profit": "net income",
    "gross profit": "revenue - cogs",
}
_MARGIN_OF = {"net profit": "net income", "ebitda": "unadjusted ebitda"}


def _definitions(question: str) -> dict[str, str]:
    """NAME → formula text, for every "NAME is defined as: ..." and "Define NAME as ..."."""
    found: dict[str, str] = {}
    for sentence in re.split(r"(?<=[.?!])\s+(?=[A-Z])", question):
        match = re.match(
            r"^(?:define\s+(.+?)\s+as|(.+?)\s+is\s+defined\s+as:?)\s+(.+?)[.?!]?$",
            sentence.strip(),
            re.IGNORECASE,
        )
        if not match:
            continue
        named, formula = match.group(1) or match.group(2), match.group(3)
        found[re.sub(r"\s*\(.*?\)", "", named.lower()).strip()] = formula
        for abbreviation in re.findall(r"\(([A-Za-z&]{2,8})\)", named):
            found[abbreviation.lower()] = formula
    return found


def _asked(question: str) -> str:
    """The sentence that asks ("what is the FY2018 fixed asset turnover ratio for CVS
    Health?"), lower-cased, from the asking words on."""
    for sentence in re.split(r"(?<=[.?!])\s+", question):
        match = re.search(r"\b(what (?:is|was|were|are)|how much)\b(.*)$", sentence, re.I)
        if match:
            return match.group(2).strip().lower()
    return ""


_COMPANY_PATTERNS = (
    # "what is Adobe's year-over-year …", "what is the FY2019 … for Best Buy?"
    r"\b(?i:what (?:is|was|were|are)|how much)\s+(?:the\s+)?"
    r"([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*)*)(?:'s|s')\s",
    r"\bfor\s+([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*)*)\s*(?:\?|\(|$)",
    r"\bdid\s+([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*)*)\s+(?:have|pay|spend)\b",
    r"\(formerly(?: known as)?\s+([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*)*)\)",
    r"\bfor\s+([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*)*)(?:'s|s')?\s+\(formerly",
)
_NOT_COMPANIES = frozenset({"FY", "The", "What", "USD", "CCC", "DPO", "DSO", "DIO", "ROA"})


def companies(question: str) -> tuple[str, ...]:
    """The companies the asking sentence names, as written."""
    asked = next(
        (
            s
            for s in re.split(r"(?<=[.?!])\s+", question)
            if re.search(r"\bwhat |how much", s, re.I)
        ),
        "",
    )
    found = []
    for pattern in _COMPANY_PATTERNS:
        for written in re.findall(pattern, asked):
            name = re.sub(r"^(?:FY|Fiscal)\s*\d{4}\s*", "", written).strip()
            if name and name.split()[0] not in _NOT_COMPANIES and not re.search(r"\d", name):
                found.append(name)
    return tuple(dict.fromkeys(found))


def _decimals(question: str) -> int | None:
    match = re.search(r"round(?:ed)?(?: your| the)?(?: answer)? to (\w+) decimal", question, re.I)
    if not match:
        return None
    return {"one": 1, "two": 2, "three": 3, "zero": 0, "no": 0}.get(match.group(1).lower())


def _unit(question: str) -> str:
    match = re.search(
        r"\b(?:in|usd)\s+(?:usd\s+|\$\s*)?(thousands|millions|billions)\b", question, re.I
    )
    return match.group(1).lower() if match else ""


def _years(text: str) -> list[int]:
    return [int(y) for y in re.findall(rf"\b{_FY}\b", text, re.IGNORECASE)]


def _metric(phrase: str, year: int, names: dict[str, str]) -> Expr | None:
    """A metric's formula for one year: a definition, a known metric, "X % margin",
    "X as a % of Y", "X + Y", or a line item."""
    phrase = re.sub(r"\b(?:unadjusted|the|year end|total amount of|amount of)\b", " ", phrase)
    phrase = " ".join(phrase.replace("(", " ").replace(")", " ").split()).strip(" ,.")
    defined = {**{k: v.format(p=year - 1, y=year) for k, v in KNOWN.items()}, **names}
    if phrase in defined:
        return _Parser(defined[phrase], year, defined).parse()
    if match := re.match(r"^(.+?) ?(?:%|percent)? margin$", phrase):
        numerator = _MARGIN_OF.get(match.group(1), match.group(1))
        top = _metric(numerator, year, names)
        return Apply("/", (top, _item("revenue", year))) if top is not None else None
    if match := re.match(r"^(.+?) as an? (?:%|percent|percentage) of (.+)$", phrase):
        top, bottom = _metric(match.group(1), year, names), _metric(match.group(2), year, names)
        return Apply("/", (top, bottom)) if top is not None and bottom is not None else None
    return _Parser(phrase, year, defined).parse()


def _strip(asked: str) -> str:
    """The asked sentence without the company, units and instructions around the
    metric."""
    text = re.sub(r"\((?:in |as a |using |from )?[^()]*\)", " ", asked)
    text = re.sub(r"\?.*$", "", text)
    text = re.sub(r"\s+for\s+[a-z][\w&.,' -]*$", "", text)  # "... for Best Buy"
    text = re.sub(r"\s+in\s+usd\s+\w+$", "", text)
    text = re.sub(r"^(?:the\s+)?[a-z][\w&.\- ]*?(?:['’]s|s['’])\s+", "", text)  # "Adobe's ..."
    text = re.sub(r"^the\s+", "", text)
    return " ".join(text.split())


def _two_years(
    phrase: str, first: int, last: int, names: dict[str, str]
) -> tuple[Expr, Expr] | None:
    """A metric in two years, the older first; None when either cannot be read."""
    old, new = _metric(phrase, first, names), _metric(phrase, last, names)
    return (old, new) if old is not None and new is not None else None


def _change(text: str, names: dict[str, str], years: list[int]) -> tuple[str, Expr | None] | None:
    """ "year-over-year change in X from FYa to FYb": (X b - X a) / X a."""
    match = re.search(rf"year[- ]over[- ]year change in (.+?) from {_FY} to {_FY}", text)
    if not match:
        return None
    pair = _two_years(match.group(1), int(match.group(2)), int(match.group(3)), names)
    formula = Apply("/", (Apply("-", (pair[1], pair[0])), pair[0])) if pair else None
    return f"year-over-year change in {match.group(1)}", formula


def _growth(text: str, names: dict[str, str], years: list[int]) -> tuple[str, Expr | None] | None:
    """ "N year X CAGR from FYa to FYb": (X b / X a)^(1/(b-a)) - 1."""
    match = re.search(rf"(?:\w+ year )?(?:total )?(.+?) cagr from {_FY} to {_FY}", text)
    if not match:
        return None
    first, last = int(match.group(2)), int(match.group(3))
    pair = _two_years(match.group(1), first, last, names)
    formula = Apply("cagr", (*pair, Number(float(last - first)))) if pair else None
    return f"{match.group(1)} CAGR", formula


def _average(text: str, names: dict[str, str], years: list[int]) -> tuple[str, Expr | None] | None:
    """ "3 year average X" over the years the question spans."""
    match = re.search(r"(?:three|3|two|2|five|5)[- ]year average (?:of )?(.+?)$", text)
    if not match:
        return None
    phrase = re.sub(rf"\s*from {_FY} to {_FY}$", "", match.group(1))
    if len(years) < 2:
        return f"average {phrase}", None
    parts = [_metric(phrase, y, names) for y in range(min(years), max(years) + 1)]
    found = tuple(p for p in parts if p is not None)
    return f"average {phrase}", Apply("avg", found) if len(found) == len(parts) else None


def _single(text: str, names: dict[str, str], years: list[int]) -> tuple[str, Expr | None]:
    """A metric or line item for the last year the question names."""
    phrase = re.sub(rf"^(?:year end |the )*{_FY}\s+", "", text)
    phrase = re.sub(rf"\s*(?:at the end of|for|in)?\s*{_FY}$", "", phrase).strip()
    return phrase, _metric(phrase, years[-1], names)


def _abbreviated(asked: str, names: dict[str, str]) -> dict[str, str]:
    """Definitions also under the long name the asking sentence gives an abbreviation
    ("cash conversion cycle (CCC)" when "CCC is defined as ...")."""
    named = dict(names)
    for phrase, abbreviation in re.findall(r"([a-z][a-z ]+?)\s*\(([a-z&]{2,8})\)", asked):
        for words in (phrase, " ".join(phrase.split()[-len(abbreviation) :])):
            if abbreviation in named and words.strip() not in named:
                named[words.strip()] = named[abbreviation]
    return named


def read_request(question: str) -> Request | None:
    """The figure `question` asks for, or None when it asks for no figure the code can
    find or compute."""
    asked = _asked(question)
    years = _years(asked)
    if not years:
        return None
    names = _abbreviated(asked, _definitions(question))
    text = _strip(asked)
    text = re.sub(r"^(.*?)\s*\bdid .+? (?:have|pay out in|pay|spend on)\b(.*)$", r"\1 \2", text)
    text = " ".join(text.split())
    found = (
        _change(text, names, years)
        or _growth(text, names, years)
        or _average(text, names, years)
        or _single(text, names, years)
    )
    name, formula = found
    if formula is None or not items(formula):
        return None
    fiscal = re.search(r"\b(?:fy|fiscal)\s?'?\d", asked)
    if not fiscal and not all(isinstance(i.concept, Concept) for i in items(formula)):
        # "the population of Warsaw in 2010": a bare year asks for a line item only
        # when the item is one the code knows.
        return None
    percent = bool(re.search(r"percent|%|margin|cagr", question, re.I))
    money = _is_amount(formula) and not percent
    return Request(
        name, formula, percent, money, _unit(question), _decimals(question), companies(question)
    )


_STATEMENT_NAMES = {
    BALANCE: r"balance sheets?|statements? of financial (?:position|condition)",
    INCOME: r"income statements?|statements? of (?:income|operations|earnings)"
    r"|p&l|profit and loss statement",
    CASH: r"cash ?flows? statements?|statements? of cash flows?"
    r"|(?:operating|investing|financing) activities",
}


def asked_statements(question: str) -> frozenset[str]:
    """The financial statements (BALANCE, INCOME, CASH) whose page answers `question`:
    those it names ("according to the balance sheet", "investing activities"), and
    those the line items of a figure it asks for are read from ("FY2019 inventories":
    the balance sheet)."""
    named = {k for k, pattern in _STATEMENT_NAMES.items() if re.search(pattern, question, re.I)}
    if request := read_request(question):
        named |= {
            i.concept.statement for i in items(request.formula) if isinstance(i.concept, Concept)
        }
    return frozenset(named)


def asked_years(question: str) -> frozenset[int]:
    """The years a question names ("FY2023", "in 2022"), for the columns of a page."""
    return frozenset(_years(question))


def _is_amount(expr: Expr) -> bool:
    """Whether a formula gives an amount of money: line items added, subtracted or
    averaged (a ratio, a count of days or a growth rate is not)."""
    if isinstance(expr, Item):
        return True
    if isinstance(expr, Apply) and expr.op in ("+", "-", "avg"):
        return all(_is_amount(a) for a in expr.args)
    return False
