"""Multi-turn chat: follow-up questions made stand-alone before retrieval.

"What is the notice period for termination?" then "and for the landlord?" must search
for both.  The rewrite is a rule, not the model: a 135M model rewriting questions
invents words, and a wrong rewrite silently searches for the wrong thing.  A question
counts as a follow-up when it opens like one ("and …", "what about …") or leans on an
earlier one with a pronoun ("is it renewable?") and says little else.  It is then
joined to the conversation's topic, the last question that was not a follow-up, so a
chain of follow-ups does not snowball.  The app shows what was searched for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def next_turn(question: str, previous: Turn | None) -> Turn:
    """The turn for `question` after `previous` (None: the conversation's first)."""
    question = question.strip()
    if previous is None or not is_follow_up(question):
        return Turn(question, question, question)
    topic = previous.topic
    joined = topic if topic.endswith(("?", ".", "!")) else topic + "?"
    return Turn(question, f"{joined} {question}", topic)
