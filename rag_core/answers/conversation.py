"""Multi-turn chat: follow-up questions made stand-alone before retrieval.

"What is the notice period for termination?" then "and for the landlord?" must search
for both.  A question counts as a follow-up when it opens like one ("and …", "what
about …") or leans on an earlier one with a pronoun ("is it renewable?") and says little
else.  With an answer model, the model rewrites it into one stand-alone question
(`ModelRewriter`), which is kept only if it is one short question whose every word is in
the two questions (a wrong rewrite silently searches for the wrong thing, so an invented
word sends it back to the rule).  The rule, and the fallback: the follow-up is joined to
the conversation's topic, the last question that was not a follow-up, so a chain of
follow-ups does not snowball.  The app shows what was searched for.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_core.answers.generation import AnswerWriter

log = logging.getLogger(__name__)

# (topic, follow-up) -> a stand-alone question, or None to use the rule.
Rewrite = Callable[[str, str], "str | None"]

_OPENERS = (
    "and",
    "or",
    "but",
    "also",
    "plus",
    "then",
    "so",
    "what about",
    "how about",
    "what if",
    "same for",
    "same question",
    "and what about",
)
_BACK_REFERENCES_TEXT = (
    "it its it's they them their theirs this that these those he she him her his there "
    "such same former latter one"
)
_BACK_REFERENCES = frozenset(_BACK_REFERENCES_TEXT.split())
_FILLER_TEXT = (
    "a an the is are was were be been do does did can could should would will shall may "
    "might must has have had of in on at to for from by with about as what which who whom "
    "whose when where why how much many any some please tell me us i we you your our not "
    "no yes than"
)
_FILLER = frozenset(_FILLER_TEXT.split())
_WORD = re.compile(r"[\w']+")
_MAX_FOLLOW_UP_WORDS = 4  # content words a pronoun-led follow-up may add


@dataclass(frozen=True)
class Turn:
    """One question of a conversation, as asked and as searched for."""

    asked: str
    standalone: str
    topic: str  # the last question that was not a follow-up

    @property
    def rewritten(self) -> bool:
        return self.standalone != self.asked


def is_follow_up(question: str) -> bool:
    text = " ".join(question.lower().split())
    if any(text == opener or text.startswith(opener + " ") for opener in _OPENERS):
        return True
    words = _WORD.findall(text)
    content = [w for w in words if w not in _FILLER and w not in _BACK_REFERENCES]
    return any(w in _BACK_REFERENCES for w in words) and len(content) <= _MAX_FOLLOW_UP_WORDS


def next_turn(question: str, previous: Turn | None, rewrite: Rewrite | None = None) -> Turn:
    """The turn for `question` after `previous` (None: the conversation's first);
    `rewrite` (the model's) is tried before the rule for a follow-up."""
    question = question.strip()
    if previous is None or not is_follow_up(question):
        return Turn(question, question, question)
    topic = previous.topic
    if rewrite is not None and (written := rewrite(topic, question)):
        return Turn(question, written, topic)
    joined = topic if topic.endswith(("?", ".", "!")) else topic + "?"
    return Turn(question, f"{joined} {question}", topic)


REWRITE_SYSTEM_PROMPT = (
    "Rewrite the follow-up question as one complete question that can be understood "
    "without the earlier question, using the earlier question for what the follow-up "
    "leaves out. Write only the rewritten question."
)
_MAX_REWRITE_WORDS = 40


class ModelRewriter:
    """Follow-ups rewritten by the answer model; None (the rule) when it fails or the
    rewrite is not one short question made of the two questions' words."""

    def __init__(self, writer: AnswerWriter) -> None:
        self.writer = writer
        self._cache: dict[tuple[str, str], str | None] = {}

    def __call__(self, topic: str, question: str) -> str | None:
        key = (topic, question)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = self._rewrite(topic, question)
        return self._cache[key]

    def _rewrite(self, topic: str, question: str) -> str | None:
        from rag_core.answers.prompting import Prompt
        from rag_core.errors import RagError

        prompt = Prompt(
            REWRITE_SYSTEM_PROMPT,
            f"Earlier question: {topic}\nFollow-up question: {question}\n",
            (),
        )
        try:
            text = "".join(self.writer.stream(prompt))
        except RagError as exc:
            log.warning("follow-up rewrite: the model could not be used (%s)", exc)
            return None
        return acceptable_rewrite(text, topic, question)


def acceptable_rewrite(text: str, topic: str, question: str) -> str | None:
    """`text` as a stand-alone question, if it is one: a single line ending in "?",
    not too long, and every word from the earlier question or the follow-up."""
    rewritten = " ".join(text.strip().strip('"“”').split())
    if not rewritten.endswith("?") or "\n" in text.strip() or rewritten.count("?") != 1:
        return None
    words = _WORD.findall(rewritten.lower())
    if not words or len(words) > _MAX_REWRITE_WORDS:
        return None
    from rag_core.answers.highlight import stem

    known = {stem(w) for w in {*_WORD.findall(f"{topic} {question}".lower()), *_FILLER}}
    if any(stem(w) not in known for w in words):
        return None
    if rewritten.lower() == question.strip().lower():
        return None
    return rewritten
