"""Which words of a passage match the question, for highlighting in a source card.

Words match by a crude stem ("terminating" finds "termination"; "children" does not find
"child") — good enough to guide the eye; ranking uses Postgres' real stemmer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
_STOP_TEXT = (
    "a an and are as at be been but by can could did do does for from had has have how i "
    "if in into is it its me my no not of on or our please should so such than that the "
    "their them then there these they this those to tell us was we were what when where "
    "which who whom why will with would you your"
)
_STOP = frozenset(_STOP_TEXT.split())
_SUFFIXES = ("ations", "ation", "ings", "ing", "ions", "ion", "ed", "es", "s", "e")
_MIN_STEM = 3
_MIN_SHARED = 5  # "termin(ation)" and "terminat(ing)" match: one stem starts the other


@dataclass(frozen=True)
class Segment:
    text: str
    match: bool


def stem(word: str) -> str:
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def query_stems(question: str) -> frozenset[str]:
    return frozenset(
        stem(w) for w in _WORD.findall(question) if w.lower() not in _STOP and len(w) > 1
    )


def _matches(word_stem: str, stems: frozenset[str]) -> bool:
    if word_stem in stems:
        return True
    return len(word_stem) >= _MIN_SHARED and any(
        len(s) >= _MIN_SHARED and (s.startswith(word_stem) or word_stem.startswith(s))
        for s in stems
    )


def highlight(text: str, question: str) -> list[Segment]:
    """`text` cut into segments, the words matching the question marked; joined
    back, the segments are `text` exactly."""
    stems = query_stems(question)
    segments: list[Segment] = []
    position = 0
    for found in _WORD.finditer(text):
        if not _matches(stem(found.group()), stems):
            continue
        if found.start() > position:
            segments.append(Segment(text[position : found.start()], False))
        segments.append(Segment(found.group(), True))
        position = found.end()
    if position < len(text):
        segments.append(Segment(text[position:], False))
    return segments
