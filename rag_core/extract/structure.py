"""Where a PDF's sections start: headings from its outline (bookmarks) when it has
one, else from the type (text larger than the body, or bold at the body's size).

A heading is placed on its page at the offset where its title starts in the page's
cleaned text (at the top of the page when the title is not found there).  Chunking
then gives every passage the path of headings it falls under ("Part II > Item 7.
Management's Discussion > Liquidity"), which goes into the passage's searchable text
and into the prompt; the page stays the unit of citation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rag_core.extract.cleaning import normalise_unicode

MAX_OUTLINE_ITEMS = 5_000  # a hostile or broken outline cannot run away
MAX_DEPTH = 6
MAX_TITLE_CHARS = 120
PATH_DEPTH = 3
_LARGER = 1.15  # a heading's type is at least this much larger than the body's
_MAX_HEADING_WORDS = 14
_WORD = re.compile(r"[^\W_]+")
_LABEL = re.compile(r"(item|section|note|part|article)\s+[\divx]+[a-z]?\.?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[\d%).,;:]\s*$")
_TOP = re.compile(r"^(part|article|chapter|schedule|appendix|exhibit)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^(item|section|note|§)\s*\w|^\d+(\.\d+)*\.?\s+\w", re.IGNORECASE)


@dataclass(frozen=True)
class Heading:
    offset: int  # where the heading starts in its page's text
    level: int  # 0 is the top
    title: str


@dataclass(frozen=True)
class Fragment:
    """A piece of text as the PDF shows it, with its type."""

    text: str
    size: float  # rendered size in points
    bold: bool


def tidy_title(title: str) -> str:
    return " ".join(title.split())[:MAX_TITLE_CHARS]


# --- from the outline ------------------------------------------------------------------


def find_title(text: str, title: str) -> int:
    """Where `title` starts in `text` (spacing and case ignored), or 0."""
    words = _WORD.findall(title)[:8]
    if not words:
        return 0
    pattern = r"\W+".join(re.escape(w) for w in words)
    match = re.search(pattern, text, re.IGNORECASE)
    return match.start() if match else 0


def outline_headings(
    entries: Sequence[tuple[int, int, str]], texts: Sequence[str]
) -> list[list[Heading]]:
    """The outline's headings of each page, placed in its text."""
    pages: list[list[Heading]] = [[] for _ in texts]
    for page, depth, title in entries:
        pages[page].append(Heading(find_title(texts[page], title), depth, title))
    return [sorted(h, key=lambda h: h.offset) for h in pages]


# --- from the type ---------------------------------------------------------------------


def is_bold(font_name: str) -> bool:
    name = font_name.lower()
    return any(mark in name for mark in ("bold", ",b", "black", "heavy", "semibold", "-bd"))


def body_size(pages: Sequence[Sequence[Fragment]]) -> float:
    """The size most of the text is set in (by characters)."""
    sizes: Counter[float] = Counter()
    for fragments in pages:
        for fragment in fragments:
            sizes[round(fragment.size, 1)] += len(fragment.text.strip())
    return sizes.most_common(1)[0][0] if sizes else 0.0


def typeset_headings(
    lines: Sequence[Sequence[Fragment]], texts: Sequence[str]
) -> list[list[Heading]]:
    """Headings of each page found by their type (`lines`: each line of the page as
    the PDF set it): lines in larger or bold type, short, beginning with a capital or
    a number, not ending in a figure or a full stop (a bold table total or sentence is
    no heading).  Consecutive heading lines of one type are one heading.  Larger
    sizes rank above smaller; bold at the body's size ranks last, "Part"/"Article"
    above "Item"/"Section"/numbered above the rest."""
    body = body_size(lines)
    if body <= 0:
        return [[] for _ in texts]
    large = sorted(
        {round(f.size, 1) for page in lines for f in page if f.size >= body * _LARGER},
        reverse=True,
    )
    out: list[list[Heading]] = []
    for page_lines, text in zip(lines, texts, strict=True):
        styled = {
            _key(f.text): f
            for f in page_lines
            if f.size >= body * _LARGER or (f.bold and f.size >= body * 0.95)
        }
        out.append(_headings_of_page(text, styled, body, large) if styled else [])
    return _without_cover_title(out)


def _key(line: str) -> str:
    return " ".join(normalise_unicode(line).split())


def _without_cover_title(pages: list[list[Heading]]) -> list[list[Heading]]:
    """The largest type on the first page only is the document's title (its cover),
    not a section every passage is under."""
    if len(pages) < 2 or not pages[0]:
        return pages
    top = min(h.level for page in pages for h in page)
    if any(h.level == top for page in pages[1:] for h in page):
        return pages
    return [[h for h in pages[0] if h.level != top], *pages[1:]]


def _headings_of_page(
    text: str, styled: dict[str, Fragment], body: float, large: list[float]
) -> list[Heading]:
    headings: list[Heading] = []
    offset = 0
    run: list[tuple[int, str, int]] = []  # (offset, line, level) of consecutive heading lines
    for line in [*text.split("\n"), ""]:
        fragment = styled.get(_key(line))
        level = _heading_level(line.strip(), fragment, body, large) if fragment else None
        if level is not None and (not run or run[-1][2] == level):
            run.append((offset, line.strip(), level))  # a heading set on several lines
        else:
            if run:
                title = tidy_title(" ".join(text for _, text, _ in run))
                if len(title.split()) <= _MAX_HEADING_WORDS * 2:
                    headings.append(Heading(run[0][0], run[0][2], title))
            run = [(offset, line.strip(), level)] if level is not None else []
        offset += len(line) + 1
    return headings


def _heading_level(line: str, fragment: Fragment, body: float, large: list[float]) -> int | None:
    words = _WORD.findall(line)
    if (
        not words
        or len(words) > _MAX_HEADING_WORDS
        or not any(c.isalpha() for c in line)
        or not (line[0].isupper() or line[0].isdigit() or line[0] == "§")
        # a figure or a full stop ends a table's total or a sentence, not a heading
        or (_SENTENCE_END.search(line) and not _LABEL.fullmatch(line))
    ):
        return None
    size = round(fragment.size, 1)
    if size >= body * _LARGER:
        return large.index(size) if size in large else len(large)
    rank = 0 if _TOP.match(line) else 1 if _NUMBERED.match(line) else 2
    return len(large) + rank


# --- paths -----------------------------------------------------------------------------


class SectionPath:
    """The headings a reader is under at a point of the document."""

    def __init__(self) -> None:
        self._stack: list[Heading] = []

    def enter(self, heading: Heading) -> None:
        while self._stack and self._stack[-1].level >= heading.level:
            self._stack.pop()
        self._stack.append(heading)

    def __str__(self) -> str:
        """The deepest PATH_DEPTH headings: a cover page's lines or a part's title
        above them say little about a passage."""
        return " > ".join(h.title for h in self._stack[-PATH_DEPTH:])
