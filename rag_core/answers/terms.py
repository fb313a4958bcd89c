"""The words, figures and code-like tokens of a text, compared the same way by evidence
selection, verification and abstention.

Words are lower-cased and crudely stemmed (`highlight.stem`); figures are read as
numbers ("$1,608 million" and "1608" are the same figure, "2.5" is not "25"); code-like
tokens (`\\newgeometry`, `§ 4.2`, `snake_case`, `10-K`) are kept whole, since one
letter changes their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag_core.answers.highlight import stem

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_FIGURE = re.compile(r"(?<![\w.])[-+]?\(?[$€£]?\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\)?%?(?![\w])")
_CODE = re.compile(
    r"\\[A-Za-z@]+\*?"  # a TeX command
    r"|§+\s*\d+(?:\.\d+)*[a-z]?"  # a section sign
    r"|\b[A-Za-z]+_[\w]+\b"  # snake_case
    r"|\b\d+-[A-Z]\b|\b[A-Z]+-\d+\b"  # 10-K, ISO-9001
    r"|\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]{3,}\b"  # letters and digits mixed
)
_STOP_TEXT = (
    "a an and are as at be been being but by can could did do does doing for from had has "
    "have having how i if in into is it its itself me my no nor not of on or our ours "
    "please should so such than that the their theirs them then there these they this "
    "those to tell us was we were what when where which while who whom whose why will "
    "with would you your yours also any all each other some more most very just only own "
    "same too about above after again against before below between both during further "
    "here once out over under until up down off s t don doesn didn isn wasn aren weren "
    "according named called name many much one"
)
STOPWORDS = frozenset(_STOP_TEXT.split())
# Words that frame a figure rather than say what it measures.
_GENERIC_TEXT = (
    "million millions billion billions thousand thousands total amount value number "
    "figure fy fiscal year years quarter company s usd dollar dollars percent percentage "
    "approximately about around roughly reported report was is were"
)
GENERIC = frozenset(stem(w) for w in _GENERIC_TEXT.split())


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, possessives off."""
    return [w.lower().removesuffix("'s").removesuffix("’s") for w in _WORD.findall(text)]


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (no stopwords, no bare numbers)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and not w.isdigit() and len(w) > 1]


def normalise_figure(whole: str, fraction: str | None) -> str:
    digits = whole.replace(",", "").lstrip("0") or "0"
    if fraction:
        decimals = fraction[1:].rstrip("0")
        if decimals:
            return f"{digits}.{decimals}"
    return digits


def figures(text: str) -> list[str]:
    """The numbers in `text`, normalised: "$1,608.0 million" gives "1608"."""
    return [normalise_figure(m.group(1), m.group(2)) for m in _FIGURE.finditer(text)]


def code_tokens(text: str) -> list[str]:
    """Tokens whose exact spelling matters: TeX commands, section numbers, identifiers."""
    return [" ".join(m.group().split()) for m in _CODE.finditer(text)]


def has_stem(stems: Iterable[str], wanted: str) -> bool:
    """Whether `wanted` is among `stems`, allowing one to be the other's start when both
    are long ("terminat" and "termination" differ only in the suffix the stemmer missed)."""
    for candidate in stems:
        if candidate == wanted:
            return True
        long_enough = len(candidate) >= 5 and len(wanted) >= 5
        if long_enough and (candidate.startswith(wanted) or wanted.startswith(candidate)):
            return True
    return False
