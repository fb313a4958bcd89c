"""Hits -> the passages a prompt quotes.

Several hits from one page become one passage, and each passage can be widened by
its neighbouring chunks on the same page (a clause's heading, the sentence before a
table), so the model reads text as it stands in the document rather than cut-outs
that repeat each other.  A passage never crosses a page: its citation names one; on a
text without pages, it never crosses a section (a slide, a sheet's rows, a heading's
part of a Word file), which is what its citation names there.
Chunks overlap by a few tokens; the overlap is written once.  The prompt budget is
`prompting.build_prompt`'s business: passages come here in rank order and it keeps
as many as fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa

from rag_core.db import Database
from rag_core.search.hits import Hit

_MAX_SPAN = 7  # chunks in one passage at most, however many hits fall together


@dataclass(frozen=True)
class ChunkText:
    text: str
    page_start: int | None
    page_end: int | None
    section: str = ""


@dataclass
class _Span:
    document_id: int
    page: int | None  # passages never cross a page: their citation names one
    first: int  # chunk indexes, inclusive
    last: int
    hits: list[Hit]  # in rank order: hits[0] speaks for the passage

    def takes(self, hit: Hit, neighbours: int) -> bool:
        """Whether `hit` belongs in this passage: same document and page, and (on a
        page-less text) near enough to join without a gap."""
        if hit.document_id != self.document_id or hit.page != self.page:
            return False
        first, last = min(self.first, hit.chunk_index), max(self.last, hit.chunk_index)
        if last - first + 1 > _MAX_SPAN:
            return False
        if self.page is not None:
            return True
        reach = 2 * neighbours + 1
        return self.first - reach <= hit.chunk_index <= self.last + reach

    def add(self, hit: Hit) -> None:
        self.first = min(self.first, hit.chunk_index)
        self.last = max(self.last, hit.chunk_index)
        self.hits.append(hit)

    def indexes(self, neighbours: int) -> range:
        return range(max(self.first - neighbours, 0), self.last + neighbours + 1)


def build_passages(db: Database, hits: Sequence[Hit], neighbours: int) -> list[Hit]:
    """One passage per group of hits that lie together, widened by up to `neighbours`
    chunks on each side (on the same page), in the rank of each group's best hit.  A
    passage is a Hit whose text is the joined chunks; its score and chunk id are its
    best hit's."""
    spans: list[_Span] = []
    for hit in hits:
        span = next((s for s in spans if s.takes(hit, neighbours)), None)
        if span is None:
            spans.append(_Span(hit.document_id, hit.page, hit.chunk_index, hit.chunk_index, [hit]))
        else:
            span.add(hit)
    if not spans:
        return []
    chunks = _chunk_texts(
        db, [(span.document_id, i) for span in spans for i in span.indexes(neighbours)]
    )
    passages: list[Hit] = []
    for span in spans:
        parts = [
            (i, chunk)
            for i in span.indexes(neighbours)
            if (chunk := chunks.get((span.document_id, i))) is not None
            and (
                chunk.page_start == chunk.page_end == span.page
                if span.page is not None
                else chunk.section == span.hits[0].section
            )
        ]
        best = span.hits[0]
        if not parts:  # replaced by a new version since it was found: quote the hit
            passages.append(best)
            continue
        passages.append(
            replace(
                best,
                text=join_overlapping([chunk.text for _, chunk in parts]),
                chunk_index=parts[0][0],
                page_end=best.page,
                text_match=any(h.text_match for h in span.hits),
            )
        )
    return passages


def _chunk_texts(db: Database, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], ChunkText]:
    statement = sa.text("""
        SELECT c.document_id, c.chunk_index, c.text, c.page_start, c.page_end, c.section
        FROM chunks c
        JOIN unnest(CAST(:documents AS bigint[]), CAST(:indexes AS integer[])) AS w(d, i)
          ON c.document_id = w.d AND c.chunk_index = w.i
    """)
    with db.session() as session:
        rows = session.execute(
            statement,
            {"documents": [d for d, _ in wanted], "indexes": [i for _, i in wanted]},
        ).all()
    return {
        (row.document_id, row.chunk_index): ChunkText(
            row.text, row.page_start, row.page_end, row.section or ""
        )
        for row in rows
    }


def join_overlapping(texts: Sequence[str], min_overlap: int = 12) -> str:
    """Neighbouring chunks joined, the text they share written once."""
    joined = ""
    for text in texts:
        if not joined:
            joined = text
            continue
        shared = _shared_length(joined, text, min_overlap)
        if shared:
            joined += text[shared:]
        else:
            joined += "\n" + text
    return joined


def _shared_length(left: str, right: str, min_overlap: int) -> int:
    """Length of the longest end of `left` that `right` starts with (0 if shorter than
    `min_overlap`: a few equal letters are chance, not overlap)."""
    probe = right[:min_overlap]
    if len(probe) < min_overlap:
        return 0
    start = max(len(left) - len(right), 0)
    while (found := left.find(probe, start)) != -1:
        if right.startswith(left[found:]):
            return len(left) - found
        start = found + 1
    return 0
