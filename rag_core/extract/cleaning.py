"""Extracted text -> the text worth searching, page numbers kept.

For every format: Unicode in compatibility form (NFKC: the `ﬁ` ligature becomes `fi`,
a full-width digit an ASCII one), soft hyphens and zero-width characters out.

For PDFs, whose text comes line by line as the page was typeset:
- a word hyphenated at a line's end is joined again (`infor-` / `mation`), when both
  halves are lower-case letters (`10-` / `K` and `Smith-` / `Jones` stay), unless the
  document writes the word with its hyphen elsewhere and never without (`non-current`);
- a table row whose figures came out one per line is put back on one line: a line
  of nothing but figures, currency signs and dashes joins the line before it, so
  `Cash and cash equivalents $ 876,560 $ 1,117,400` is one line, as in the table;
- dot leaders (`Revenue ........ 12`) become one space;
- running headers and footers go: a line among the first or last three of a page
  that recurs there on at least half the pages of the file (and on three or more),
  the same text (case and spacing ignored: a company name, "Table of Contents") or
  the same text around the page's number ("Page 4 of 120" on the 4th page, "Page 5
  of 120" on the 5th).  A line whose figures change otherwise ("Invoice 1043") is
  content and stays; a page that would be left with nothing keeps its text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_HYPHENATED = re.compile(r"([A-Za-z]*[a-z]{2})-\n([a-z]{2}[a-z]*)")
_VOCABULARY_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_DOT_LEADER = re.compile(r"(?:\s?\.){4,}\s?|…{2,}")
_CELL = r"(?:[$€£¥%()\-–—]|\(?[-–]?[$€£¥]?\d[\d.,]*\)?%?)"
_FIGURES_ONLY = re.compile(rf"^{_CELL}(?:\s+{_CELL})*$")
_HAS_TEXT = re.compile(r"\w")
_NUMBER = re.compile(r"\d+")
EDGE_LINES = 3  # lines at the top and at the bottom of a page that may be running
RUNNING_SHARE = 0.5  # of the pages a line must recur on to count as running
RUNNING_MIN_PAGES = 3


def normalise_unicode(text: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def vocabulary(pages: Sequence[str]) -> set[str]:
    """The words of a document as it writes them where no line break cuts them
    (lower case; hyphenated compounds whole)."""
    words: set[str] = set()
    for text in pages:
        words.update(_VOCABULARY_WORD.findall(_HYPHENATED.sub(" ", text).lower()))
    return words


def join_hyphenated(text: str, words: set[str] | frozenset[str] = frozenset()) -> str:
    """`infor-` / `mation` -> `information`; but `non-` / `current` -> `non-current`
    when the document writes "non-current" elsewhere and never "noncurrent"."""

    def join(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        joined = f"{first}{second}"
        if joined.lower() not in words and f"{first}-{second}".lower() in words:
            return f"{first}-{second}"
        return joined

    return _HYPHENATED.sub(join, text)


def clean_pdf_page(text: str, words: set[str] | frozenset[str] = frozenset()) -> str:
    """One page's text: hyphenation joined (`words`: the document's vocabulary), table
    rows on one line, no dot leaders."""
    text = join_hyphenated(text, words)
    text = _DOT_LEADER.sub(" ", text)
    lines: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if lines and lines[-1] and stripped and _FIGURES_ONLY.match(stripped):
            lines[-1] = f"{lines[-1]} {stripped}"
        else:
            lines.append(stripped)
    return "\n".join(lines)


def _exact(line: str) -> str:
    return " ".join(line.lower().split())


def _marks(line: str, page: int) -> list[object]:
    """What makes a line the same running line on another page: its text, or its
    text around a page number, as (the text with its numbers as `#`, which number,
    that number less the page's index).  A page number printed on every page keeps
    the same difference ("Page 37 of 120" on the 39th page of the file, "Page 38 of
    120" on the 40th)."""
    exact = _exact(line)
    numbers = _NUMBER.findall(exact)
    shape = _NUMBER.sub("#", exact)
    return [exact, *((shape, i, int(n) - page) for i, n in enumerate(numbers[:4]))]


def _edges(lines: Sequence[str]) -> list[int]:
    """Indexes of the first and last EDGE_LINES non-blank lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def running_lines(pages: Sequence[str]) -> set[object]:
    """Marks of the lines that recur at the top or bottom of most pages: the same
    text, or the same text around a page number."""
    counts: Counter[object] = Counter()
    for page, text in enumerate(pages):
        lines = text.split("\n")
        counts.update({mark for i in _edges(lines) for mark in _marks(lines[i], page)})
    needed = max(RUNNING_MIN_PAGES, RUNNING_SHARE * len(pages))
    return {mark for mark, seen in counts.items() if seen >= needed and mark}


def drop_running_lines(pages: Sequence[str]) -> list[str]:
    """Each page without its running headers and footers (see the module's text)."""
    running = running_lines(pages) if len(pages) >= RUNNING_MIN_PAGES else set()
    if not running:
        return list(pages)
    cleaned = []
    for page, text in enumerate(pages):
        lines = text.split("\n")
        drop = {i for i in _edges(lines) if any(m in running for m in _marks(lines[i], page))}
        kept = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
        cleaned.append(kept if _HAS_TEXT.search(kept) else text)
    return cleaned
