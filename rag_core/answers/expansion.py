"""The answer model reads a question the documents say in other words.

Staff ask "how do I turn the page sideways?"; the manual says "landscape".  When the
first search is weak (its first passage is far from the question, `Retriever.weak`), the answer
model is asked to answer it briefly the way the library's documents would, naming their
commands, options and terms; it is told the titles of the documents the first search
found, so it knows what kind of library it is.  Its words are searched for beside the
question (`Retriever.search_vector`).  They only move passages: relevance and abstention
are still judged on the question alone, so a model that invents an answer cannot make
the library look as if it held one.

Measured (`eval library`, page@5, fixed halves a / b; MiniLM, hybrid; the 1.5B model
through the generation service on 2 cores): the 22 questions written over the R manuals
in other words 0.636 (0.667 / 0.600) -> 0.864 (0.833 / 0.900), 10 of them weak; the R
manuals' own 20 questions 0.80 (0.750 / 0.833) unchanged, 1 weak; FinanceBench dev 0.891
unchanged, none weak; SciFact dev nDCG@10 0.710 -> 0.711, 21 of 809 weak; SQuAD dev
(first 600) 0.886 -> 0.880, 49 weak: its fragments ("Who bought the rights?") get a
confident wrong name from the model. A weak question takes about 1.9 s more (p50). Tried
and not kept: the model's words searched alone, or fused as a list of their own
(reciprocal rank fusion), lost on every set (FinanceBench 0.891 -> 0.65-0.78); expanding
every question, not only weak ones, cost FinanceBench 3 questions and the R manuals 1; a
list of alternative terms instead of a short answer moved little (the model echoed the
asker's words); letting the model's words displace the question's own first passage cost
the R manuals one question.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag_core.answers.prompting import NO_ANSWER, Prompt
from rag_core.errors import RagError

if TYPE_CHECKING:
    from rag_core.answers.generation import AnswerWriter

log = logging.getLogger(__name__)

EXPAND_SYSTEM_PROMPT = (
    "Answer the question in one or two sentences the way these documents would, naming "
    "the exact commands, functions, options, sections or terms they use. Documents: {titles}."
)
MAX_TOKENS = 80  # about two sentences: the second one often names the term that finds the page
_MAX_TITLES_CHARS = 300
_WORD = re.compile(r"\w+")


class ModelExpander:
    """The answer model's words for a question (`retrieval.Expand`), from a bounded
    cache (least recently used out) keyed by the question and the documents named:
    staff ask the same questions again, and each costs the model a second or two."""

    def __init__(self, writer: AnswerWriter, cache_size: int = 256) -> None:
        self.writer = writer
        self.cache_size = cache_size
        self.asked = 0  # calls that reached the model (the rest came from the cache)
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, question: str, titles: Sequence[str]) -> str | None:
        key = (question, tuple(titles))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        words = self._ask(question, titles)
        with self._lock:
            self._cache[key] = words
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return words

    def clear(self) -> None:
        """Forget the words kept (a benchmark asks the same questions in each round)."""
        with self._lock:
            self._cache.clear()

    def _ask(self, question: str, titles: Sequence[str]) -> str | None:
        named = "; ".join(titles)[:_MAX_TITLES_CHARS] or "the library's documents"
        prompt = Prompt(EXPAND_SYSTEM_PROMPT.format(titles=named), f"Question: {question}", ())
        self.asked += 1
        try:
            text = "".join(self.writer.stream(prompt, max_tokens=MAX_TOKENS))
        except RagError as exc:  # the question is searched for alone, as without a model
            log.warning("question expansion: the model could not be used (%s)", exc)
            return None
        return usable_words(text, question)


def usable_words(text: str, question: str) -> str | None:
    """The model's text as words to search for, or None when it adds none: empty, its
    refusal, or only the question's own words back."""
    words = " ".join(text.split())
    if not words or words.upper().startswith(NO_ANSWER):
        return None
    own = {w.lower() for w in _WORD.findall(question)}
    if not any(w.lower() not in own for w in _WORD.findall(words)):
        return None
    return words
