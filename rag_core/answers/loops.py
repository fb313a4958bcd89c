"""A guard that ends a model's stream when it starts repeating itself.

Small models fall into loops ("fancypaper, fancypaper, fancypaper, …") that llama.cpp's
repetition penalties slow but do not stop.  Two signs end the stream: a run of words
(an n-gram) that has come back too often, or text whose tail is one short piece
written again and again (loops inside words or punctuation, which n-grams miss).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class LoopGuard:
    ngram: int = 6  # words in a run
    max_repeats: int = 2  # times a run may come back
    tail_chars: int = 120  # how much of the end is looked at for a repeating piece
    max_period: int = 40  # the longest repeating piece looked for
    min_cycles: int = 3  # times it must repeat to count
    text: str = ""
    looped: bool = False
    _runs: Counter[tuple[str, ...]] = field(default_factory=Counter)
    _words: list[str] = field(default_factory=list)

    def feed(self, piece: str) -> bool:
        """Add `piece`; True once the text has started looping."""
        self.text += piece
        words = self.text.lower().split()
        complete = words if self.text[-1:].isspace() else words[:-1]
        while len(self._words) < len(complete):
            self._words.append(complete[len(self._words)])
            if len(self._words) >= self.ngram:
                run = tuple(self._words[-self.ngram :])
                self._runs[run] += 1
                if self._runs[run] > self.max_repeats:
                    self.looped = True
        if not self.looped:
            self.looped = self._tail_repeats()
        return self.looped

    def _tail_repeats(self) -> bool:
        tail = self.text[-self.tail_chars :]
        for period in range(1, self.max_period + 1):
            span = period * self.min_cycles
            if span > len(tail) or span < 12:
                continue
            unit = tail[-period:]
            if not unit.strip():
                continue
            if tail[-span:] == unit * self.min_cycles:
                return True
        return False


def guarded(pieces: Iterator[str], guard: LoopGuard) -> Iterator[str]:
    """`pieces` until they loop; closing the source stops the model writing."""
    try:
        for piece in pieces:
            if guard.feed(piece):
                return
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
