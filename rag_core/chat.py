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
from functools import partial

import numpy as np

from rag_core.context import build_passages
from rag_core.db import Database, QueryLog
from rag_core.embedding import Embedder
from rag_core.errors import QuestionRejected
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
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.retriever = retriever
        self.generator = generator
        self.params = params

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

    def ask(
        self, question: str, *, top_k: int | None = None, filters: Filters = Filters()
    ) -> AnswerStream:
        """Start answering.  Raises QuestionRejected before any work for a bad question."""
        started = time.perf_counter()
        question = self.check_question(question)
        vector = self.retriever.embed_query(question)
        hits = self.retriever.search_vector(
            question, vector, top_k=top_k or self.params.top_k, filters=filters
        )
        relevant = [h for h in hits if h.score >= self.params.relevance_floor or h.text_match]
        if not relevant:
            finish = partial(self._finish, question, vector, True, (), hits, started)
            return AnswerStream(iter([ABSTAIN_MESSAGE]), (), True, finish)
        passages = build_passages(self.db, relevant, self.params.context_neighbours)
        prompt = build_prompt(
            question, passages, self.generator.count_tokens, self.generator.prompt_budget
        )
        finish = partial(self._finish, question, vector, False, prompt.sources, hits, started)
        return AnswerStream(self.generator.stream(prompt), prompt.sources, False, finish)

    def _finish(
        self,
        question: str,
        vector: np.ndarray,
        abstained: bool,
        sources: tuple[Hit, ...],
        retrieved: list[Hit],
        started: float,
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
