"""The types that search hands to everything after it: a passage found (`Hit`) and
what a search is restricted to (`Filters`).  A module of their own, so retrieval,
re-ranking and the answer path share them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval; empty fields restrict nothing."""

    document_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # a document matches if it has any of them
    all_tags: tuple[str, ...] = ()  # ... and every one of these
    folder: str | None = None  # absolute; files anywhere below it
    added_from: datetime | None = None  # when the document came into the library
    added_until: datetime | None = None  # (exclusive)
    exclude_document_ids: tuple[int, ...] = ()  # e.g. to ask as if they were not there


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    title: str
    source: str
    page: int | None
    page_end: int | None
    chunk_index: int
    text: str
    score: float  # cosine similarity to the question, -1..1
    fused_score: float
    text_match: bool  # the passage contains every word of the question
    section: str = ""  # the headings the passage falls under, "Item 7 > Liquidity"
    # The answer model's words for the question this passage was found with, beside
    # it (a weak first search); None: found with the question alone.
    found_with: str | None = None
    # Cosine similarity to what this passage was ranked by: the question and, for a
    # passage the model's words found, those words too (the first search's best
    # passage, kept first, was ranked by the question alone and keeps that figure;
    # None: not known, as for a passage made up by the code).
    searched_similarity: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The CLI/JSON contract's fields."""
        return {
            "document_id": self.document_id,
            "title": self.title,
            "source": self.source,
            "page": self.page,
            "chunk_index": self.chunk_index,
            "section": self.section,
            "score": round(self.score, 4),
            "text": self.text,
        }
