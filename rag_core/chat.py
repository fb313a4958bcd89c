"""Question -> retrieval -> prompt -> streamed answer with citations -> QueryLog.

Whether to answer at all is decided here from retrieval scores, never by the model:
small models invent facts, so when no passage reaches the relevance floor (and none
contains every word of the question) the answer says the documents do not contain it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import numpy as np

from rag_core.audit import Action, AuditTrail
from rag_core.context import build_passages
from rag_core.db import Database, QueryLog
from rag_core.embedding import Embedder
from rag_core.errors import QuestionRejected, RateLimited
from rag_core.generation import Generator
from rag_core.prompting import build_prompt, cited_numbers
from rag_core.retrieval import Filters, Hit, Retriever

log = logging.getLogger(__name__)

ABSTAIN_MESSAGE = (
    "The documents do not contain an answer to this question: no passage in the "
    "library is close enough to it."
)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    sources: tuple[Hit, ...]  # sources[n - 1] is [n] in the text
    cited: tuple[int, ...]  # the source numbers the text cites
    latency_ms: float
    query_id: int | None


@dataclass(frozen=True)
class ChatParams:
    relevance_floor: float
    question_max_chars: int
    top_k: int
    context_neighbours: int = 1  # chunks added on each side of a hit in the prompt
    questions_per_minute: int = 0  # per person; 0: no limit
    log_content: bool = False  # questions in the log (debugging only: they may be PHI)


class AnswerStream:
    """Iterate once for the answer's text pieces.  `sources` and `abstained` are known
    before the first piece; `answer` is set (and the question logged) when it ends."""

    def __init__(
        self,
        pieces: Iterator[str],
        sources: tuple[Hit, ...],
        abstained: bool,
        finish: Callable[[str], Answer],
    ) -> None:
        self._pieces = pieces
        self._finish = finish
        self.sources = sources
        self.abstained = abstained
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        collected: list[str] = []
        for piece in self._pieces:
            collected.append(piece)
            yield piece
        self.answer = self._finish("".join(collected).strip())

    def complete(self) -> Answer:
        """Consume the whole stream and return the finished answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


class ChatService:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        retriever: Retriever,
        generator: Generator,
        params: ChatParams,
        audit: AuditTrail | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.retriever = retriever
        self.generator = generator
        self.params = params
        self.audit = audit or AuditTrail(db)

    def check_question(self, question: str) -> str:
        """The question, stripped; raises QuestionRejected with a polite reason."""
        question = question.strip()
        if not question:
            raise QuestionRejected("Please type a question.")
        if len(question) > self.params.question_max_chars:
            raise QuestionRejected(
                f"The question is too long ({len(question):,} characters); please keep it "
                f"under {self.params.question_max_chars:,}."
            )
        return question

    def check_rate(self, user: str) -> None:
        """Raises RateLimited when `user` has asked their allowance in the last minute."""
        limit = self.params.questions_per_minute
        if limit and self.audit.count(user, Action.QUESTION, timedelta(minutes=1)) >= limit:
            self.audit.record(user, Action.QUESTION_REFUSED, {"reason": "rate limit"}, "refused")
            raise RateLimited(
                f"You have asked {limit} questions in the last minute, the most allowed. "
                "Please wait a moment before the next one."
            )

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters = Filters(),
        user: str | None = None,
    ) -> AnswerStream:
        """Start answering.  Raises QuestionRejected before any work for a bad question
        (RateLimited when `user` asks too often).  The question and the sources shown
        for it go to the audit trail under `user`."""
        started = time.perf_counter()
        question = self.check_question(question)
        if user is not None:
            self.check_rate(user)
        if self.params.log_content:
            log.info("question from %s: %r", user, question)
        vector = self.retriever.embed_query(question)
        hits = self.retriever.search_vector(
            question, vector, top_k=top_k or self.params.top_k, filters=filters
        )
        relevant = [h for h in hits if h.score >= self.params.relevance_floor or h.text_match]
        if not relevant:
            self._audit(user, question, ())
            finish = partial(self._finish, question, vector, True, (), hits, started, user)
            return AnswerStream(iter([ABSTAIN_MESSAGE]), (), True, finish)
        passages = build_passages(self.db, relevant, self.params.context_neighbours)
        prompt = build_prompt(
            question, passages, self.generator.count_tokens, self.generator.prompt_budget
        )
        self._audit(user, question, prompt.sources)
        finish = partial(self._finish, question, vector, False, prompt.sources, hits, started, user)
        return AnswerStream(self.generator.stream(prompt), prompt.sources, False, finish)

    def _audit(self, user: str | None, question: str, sources: tuple[Hit, ...]) -> None:
        """Recorded when the sources are chosen, so a reader who leaves before the
        answer ends is on record too."""
        shown = [
            {"document_id": h.document_id, "title": h.title, "page": h.page, "page_end": h.page_end}
            for h in sources
        ]
        self.audit.record(user, Action.QUESTION, {"question": question, "shown": shown})

    def _finish(
        self,
        question: str,
        vector: np.ndarray,
        abstained: bool,
        sources: tuple[Hit, ...],
        retrieved: list[Hit],
        started: float,
        user: str | None,
        text: str,
    ) -> Answer:
        latency_ms = (time.perf_counter() - started) * 1000
        with self.db.session() as session:
            entry = QueryLog(
                question=question,
                embedding=vector,
                answer=text,
                abstained=abstained,
                retrieved=[{"chunk_id": h.chunk_id, "score": round(h.score, 4)} for h in retrieved],
                sources=[_shown(number, hit) for number, hit in enumerate(sources, start=1)],
                latency_ms=latency_ms,
                user_name=user,
            )
            session.add(entry)
            session.flush()
            query_id = entry.id
        return Answer(
            question=question,
            text=text,
            abstained=abstained,
            sources=sources,
            cited=tuple(cited_numbers(text, len(sources))),
            latency_ms=latency_ms,
            query_id=query_id,
        )


def _shown(number: int, hit: Hit) -> dict[str, object]:
    """A source as the QueryLog keeps it: enough to say later what was shown, even
    after the document is re-ingested."""
    return {
        "number": number,
        "document_id": hit.document_id,
        "chunk_id": hit.chunk_id,
        "title": hit.title,
        "source": hit.source,
        "page": hit.page,
        "page_end": hit.page_end,
        "score": round(hit.score, 4),
    }
