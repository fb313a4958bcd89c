"""Ranked passages -> the same passages, with near-copies kept from crowding the top.

Libraries hold near-identical documents (this year's report and last year's, a
manual in five editions): their passages rank together and can fill the first page
of results with one text.  A passage that is a near-copy (word-set Jaccard at least
`threshold`) of `allowed` passages already placed, or a second passage of a page
already placed, moves down behind the passages that are neither, in its order:
nothing is dropped, the ranking below the top only reorders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag_core.search.hits import Hit

_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def diversify(hits: Sequence[Hit], allowed: int = 2, threshold: float = 0.7) -> list[Hit]:
    """`hits` in their order, except that each passage with `allowed` near-copies
    ranked above it, or with another passage of its page above it, goes after all
    that have neither (a page's passages are quoted together anyway: see
    `answers.context`)."""
    kept: list[tuple[Hit, frozenset[str]]] = []
    pages: set[tuple[int, int]] = set()
    deferred: list[Hit] = []
    for hit in hits:
        words = _words(hit.text)
        copies = sum(1 for _, other in kept if jaccard(words, other) >= threshold)
        page = (hit.document_id, hit.page) if hit.page is not None else None
        if copies >= allowed or page in pages:
            deferred.append(hit)
        else:
            kept.append((hit, words))
            if page is not None:
                pages.add(page)
    return [hit for hit, _ in kept] + deferred
