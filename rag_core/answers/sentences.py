"""Passage text -> sentences that keep their character span.

Text from PDFs breaks lines inside sentences and puts each table row on a line of its
own; text files wrap paragraphs.  A line break therefore ends a sentence only where the
text says so: a blank line, a line that ends with a full stop, a short heading line, a
list item, or a table row (a line of figures).  Full stops after abbreviations ("e.g.",
"Fig.", "U.S.", an initial) and in numbers ("2.5") end nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "al",
        "fig",
        "figs",
        "no",
        "nos",
        "vol",
        "p",
        "pp",
        "sec",
        "ch",
        "eq",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "approx",
        "est",
        "art",
        "para",
        "ref",
        "refs",
    ]
)
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_BULLET = re.compile(r"^\s*(?:[-•*▪◦–]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_FIGURE = re.compile(r"\(?[-$€£]?\d[\d,.]*%?\)?")
_WORDS = re.compile(r"\w+")
MAX_SENTENCE_CHARS = 400  # longer runs are cut at a semicolon or line, then at a space
_HEADING_CHARS = 60


@dataclass(frozen=True)
class Sentence:
    """A sentence of a text: `text` is `source[start:end]`, stripped."""

    start: int
    end: int
    text: str

    @property
    def flat(self) -> str:
        """The sentence on one line, as it is quoted."""
        return " ".join(self.text.split())


def is_table_row(line: str) -> bool:
    """A line of figures: at least two numbers making up a good part of its words."""
    figures = len(_FIGURE.findall(line))
    words = len(_WORDS.findall(line))
    return figures >= 2 and figures * 3 >= words


def _line_ends_sentence(line: str, following: str) -> bool:
    stripped = line.rstrip()
    if not stripped or not following.strip():
        return True
    if stripped[-1] in ".!?:;" or stripped.endswith(("”", '."', ".)")):
        return True
    if _BULLET.match(following) or is_table_row(line) or is_table_row(following):
        return True
    # A heading: a short line standing alone above text that starts afresh.
    return len(stripped) <= _HEADING_CHARS and following.lstrip()[:1].isupper()


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the full stop at `dot` belongs to an abbreviation or an initial."""
    start = dot
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return word in _ABBREVIATIONS or "." in word  # "U.S.", "e.g."


def _boundaries(text: str) -> list[int]:
    """Offsets where a sentence ends."""
    cuts: set[int] = set()
    for found in _END.finditer(text):
        dot = found.start()
        if text[dot] == "." and _is_abbreviation(text, dot):
            continue
        cuts.add(found.end())
    offset = 0
    lines = text.split("\n")
    for number, line in enumerate(lines[:-1]):
        offset += len(line) + 1
        if _line_ends_sentence(line, lines[number + 1]):
            cuts.add(offset - 1)
    cuts.add(len(text))
    return sorted(cuts)


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) in pieces of at most MAX_SENTENCE_CHARS, cut where the text allows."""
    pieces: list[tuple[int, int]] = []
    while end - start > MAX_SENTENCE_CHARS:
        window = text[start : start + MAX_SENTENCE_CHARS]
        cut = max(window.rfind("; "), window.rfind("\n"))
        if cut < MAX_SENTENCE_CHARS // 3:
            cut = window.rfind(" ")
        if cut < MAX_SENTENCE_CHARS // 3:
            cut = MAX_SENTENCE_CHARS - 1
        pieces.append((start, start + cut + 1))
        start += cut + 1
    pieces.append((start, end))
    return pieces


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of `text` in order; blank stretches are skipped.  Each span points
    into `text`, so a quoted sentence can be found again on its page."""
    sentences: list[Sentence] = []
    previous = 0
    for cut in _boundaries(text):
        for start, end in _cut_long(text, previous, cut):
            piece = text[start:end]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                sentences.append(Sentence(start + lead, start + lead + len(stripped), stripped))
        previous = cut
    return sentences
