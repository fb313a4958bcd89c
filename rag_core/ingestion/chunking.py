"""Pages -> chunks sized in tokens of the embedding model, with overlap.

The text of all pages is cut into small atoms (sentences, lines; words and characters
only for runs too long to fit), each remembering how strong the boundary after it is
(paragraph > line > sentence > word).  Atoms are packed greedily up to the token
limit, and each chunk ends at the strongest boundary in its second half, so chunks
follow paragraphs where they can.  Pages are chunked one by one: a citation must name
the page a passage is on, and short pages simply give short chunks.  Each chunk
carries the path of headings it falls under (`rag_core.extract.structure`), which go on
from page to page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag_core.extract import Page
from rag_core.extract.structure import SectionPath

WORD, SENTENCE, LINE, PARAGRAPH = 0, 1, 2, 3

_BOUNDARY = re.compile(r"\n[ \t]*\n\s*|\n|(?<=[.!?;])[ \t]+")
_WORD = re.compile(r"\S+\s*")


class TokenCounter(Protocol):
    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text (without special tokens)."""
        ...


@dataclass(frozen=True)
class TextChunk:
    index: int
    text: str
    page_start: int | None
    page_end: int | None
    token_count: int
    section: str = ""  # the headings it falls under, "Part II > Item 7 > Liquidity"


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    tokens: int
    strength: int  # of the boundary after this atom


def chunk_pages(
    pages: Sequence[Page], count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int
) -> list[TextChunk]:
    """Split pages into chunks of at most `max_tokens` tokens, neighbours on the same
    page sharing up to `overlap_tokens` tokens.  A chunk never spans a page break, so
    every citation names the exact page.  Empty pages produce nothing."""
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap must be smaller than the chunk size")
    chunks: list[TextChunk] = []
    path = SectionPath()
    for page in pages:
        text = page.text
        headings = sorted(page.headings, key=lambda h: h.offset)
        atoms = _atoms(text, count_tokens, max_tokens)
        for first, last in _pack(atoms, max_tokens, overlap_tokens):
            start, end = atoms[first].start, atoms[last - 1].end
            # A heading in the first half of a chunk is what the chunk is about.
            while headings and headings[0].offset < (start + end) / 2:
                path.enter(headings.pop(0))
            body = text[start:end].strip()
            if body:
                chunks.append(
                    TextChunk(
                        index=len(chunks),
                        text=body,
                        page_start=page.number,
                        page_end=page.number,
                        token_count=sum(a.tokens for a in atoms[first:last]),
                        section=str(path),
                    )
                )
        for heading in headings:  # the rest of the page opens what the next goes on
            path.enter(heading)
    return chunks


def _atoms(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[_Atom]:
    spans: list[tuple[int, int, int]] = []
    position = 0
    for match in _BOUNDARY.finditer(text):
        separator = match.group()
        strength = (
            PARAGRAPH if separator.count("\n") >= 2 else LINE if "\n" in separator else SENTENCE
        )
        spans.append((position, match.end(), strength))
        position = match.end()
    if position < len(text):
        spans.append((position, len(text), PARAGRAPH))
    counts = count_tokens([text[s:e] for s, e, _ in spans])
    atoms: list[_Atom] = []
    for (start, end, strength), tokens in zip(spans, counts, strict=True):
        if tokens <= max_tokens:
            atoms.append(_Atom(start, end, tokens, strength))
        else:
            atoms.extend(_split_words(text, start, end, strength, count_tokens, max_tokens))
    return atoms


def _split_words(
    text: str, start: int, end: int, strength: int, count_tokens: TokenCounter, max_tokens: int
) -> list[_Atom]:
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    counts = count_tokens([text[s:e] for s, e in words])
    atoms: list[_Atom] = []
    for (s, e), tokens in zip(words, counts, strict=True):
        if tokens <= max_tokens:
            atoms.append(_Atom(s, e, tokens, WORD))
            continue
        # A "word" longer than a chunk (a hash, base64, a table without spaces): cut it
        # into pieces of `max_tokens` characters; a token covers at least one character.
        for piece_start in range(s, e, max_tokens):
            piece_end = min(piece_start + max_tokens, e)
            atoms.append(
                _Atom(piece_start, piece_end, count_tokens([text[piece_start:piece_end]])[0], WORD)
            )
    if atoms:
        last = atoms[-1]
        atoms[-1] = _Atom(last.start, last.end, last.tokens, strength)
    return atoms


def _pack(atoms: Sequence[_Atom], max_tokens: int, overlap_tokens: int) -> list[tuple[int, int]]:
    """Ranges [first, last) of atoms, one per chunk."""
    ranges: list[tuple[int, int]] = []
    first = 0
    while first < len(atoms):
        total, last = 0, first
        while last < len(atoms) and total + atoms[last].tokens <= max_tokens:
            total += atoms[last].tokens
            last += 1
        last = max(last, first + 1)  # an atom is never larger than max_tokens
        if last < len(atoms):
            last = _best_break(atoms, first, last, max_tokens)
        ranges.append((first, last))
        if last >= len(atoms):
            break
        first = _overlap_start(atoms, first, last, overlap_tokens)
    return ranges


def _best_break(atoms: Sequence[_Atom], first: int, last: int, max_tokens: int) -> int:
    """End the chunk after the strongest boundary that keeps it at least half full."""
    best, best_strength, total = last, -1, 0
    for i in range(first, last):
        total += atoms[i].tokens
        if total >= max_tokens // 2 and atoms[i].strength >= best_strength:
            best, best_strength = i + 1, atoms[i].strength
    return best


def _overlap_start(atoms: Sequence[_Atom], first: int, last: int, overlap_tokens: int) -> int:
    start, total = last, 0
    while start - 1 > first and total + atoms[start - 1].tokens <= overlap_tokens:
        # Overlap repeats context within a paragraph, not across a paragraph break.
        if atoms[start - 1].strength >= PARAGRAPH:
            break
        start -= 1
        total += atoms[start].tokens
    return start
