"""Question -> retrieval -> evidence -> (model) -> verification -> answer -> QueryLog.

The answer rests on evidence the code has checked, so a tiny model is safe and a big
one only makes the written sentences better:
- whether to answer at all is decided from retrieval scores and the evidence, never by
  the model (the relevance floor; `abstention` for terms no source has);
- the evidence is quoted sentences, verbatim, with their source number and page;
- in `generative` and `auto` modes the model writes from the evidence only, and each of
  its sentences is shown only if `verification` finds it in the sources it cites.
Modes (RAG_ANSWER_MODE): `extractive` quotes the evidence and calls no model;
`generative` shows the model's verified sentences (the evidence when none verify);
`auto` shows the evidence at once and adds the model's verified sentences after it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np

from rag_core.access.audit import Action, AuditTrail
from rag_core.answers.abstention import AbstentionParams, decide
from rag_core.answers.computed import Computed, computed_figure
from rag_core.answers.context import build_passages
from rag_core.answers.evidence import Evidence, EvidenceParams, EvidenceSelector
from rag_core.answers.generation import AnswerWriter, person_turn
from rag_core.answers.prompting import build_evidence_prompt, says_no_answer
from rag_core.answers.verification import Verdict, Verifier, split_answer
from rag_core.db import Database, QueryLog
from rag_core.errors import QuestionRejected, RagError, RateLimited
from rag_core.search.embedding import Embedder
from rag_core.search.hits import Filters, Hit
from rag_core.search.retrieval import Retriever

log = logging.getLogger(__name__)

ABSTAIN_MESSAGE = (
    "The documents do not contain an answer to this question: no passage in the "
    "library is close enough to it."
)
# The same, when the answer model's words for the question found passages close to
# them (as close as a search that is not weak): they may hold what the asker meant in
# other words, but nothing vouches for them.  Words that found nothing close (an
# off-topic question the model answered anyway) get the message above.
ABSTAIN_WITH_WORDS_MESSAGE = (
    "No passage in the library is close enough to this question to answer it. The "
    "passages below were found with the answer model's words for it: read them to see "
    "whether one says it in other words."
)
SUMMARY_HEADING = "In short (checked against the sources):"
DECLINED_MESSAGE = (
    "The answer model read these passages and found that they do not answer the "
    "question: they are the nearest the documents hold."
)
_NEAREST = 3  # passages shown when none is close enough to the question


class AnswerMode(StrEnum):
    EXTRACTIVE = "extractive"
    GENERATIVE = "generative"
    AUTO = "auto"


def searched_with(sources: Sequence[Hit]) -> str | None:
    """The answer model's words searched for beside a weak question, if any."""
    return next((hit.found_with for hit in sources if hit.found_with), None)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    sources: tuple[Hit, ...]  # sources[n - 1] is [n] in the text
    cited: tuple[int, ...]  # the source numbers the text cites
    latency_ms: float
    query_id: int | None
    mode: str = AnswerMode.EXTRACTIVE.value
    evidence: tuple[Evidence, ...] = ()
    verdicts: tuple[Verdict, ...] = ()  # the model's sentences, shown or left out
    model: str | None = None  # the answer model's file, when it was asked to write
    refusal: float | None = None  # the model's probability of refusing, when it was asked
    # The figure asked for, computed from table rows (`computed`), as JSON; None when
    # the question asks for none.
    figure: dict[str, Any] | None = None

    @property
    def sentences_verified(self) -> int:
        return sum(1 for v in self.verdicts if v.verified)

    @property
    def searched_with(self) -> str | None:
        return searched_with(self.sources)

    @property
    def words_may_answer(self) -> bool:
        """Abstained, but the passages shown were found close to the answer model's
        words for the question: they may say it in other words."""
        return self.abstained and self.text == ABSTAIN_WITH_WORDS_MESSAGE

    def to_json(self) -> dict[str, Any]:
        """The answer's JSON contract (`ask --json`; the HTTP API adds to it)."""
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "mode": self.mode,
            "cited": list(self.cited),
            "evidence": [
                {"source": e.source, "page": e.hit.page, "text": e.text} for e in self.evidence
            ],
            "sentences_written": len(self.verdicts),
            "sentences_verified": self.sentences_verified,
            "model": self.model,
            "figure": self.figure,
            "searched_with": self.searched_with,
            "sources": [hit.to_json() for hit in self.sources],
        }


@dataclass(frozen=True)
class ChatParams:
    relevance_floor: float
    question_max_chars: int
    top_k: int
    context_neighbours: int = 1  # chunks added on each side of a hit in the prompt
    questions_per_minute: int = 0  # per person; 0: no limit
    log_content: bool = False  # questions in the log (debugging only: they may be PHI)
    mode: AnswerMode = AnswerMode.EXTRACTIVE
    abstention: AbstentionParams = AbstentionParams()
    # The model is asked first how likely it is to refuse (`AnswerWriter.refusal`): at
    # or above this probability the answer abstains, below it the model must answer
    # (the refusal kept out) and verification judges what it writes.
    refusal_abstains_at: float = 0.8


@dataclass
class _Written:
    """What the model wrote for one answer, filled in while the answer streams."""

    verdicts: list[Verdict] = field(default_factory=list)
    declined: bool = False  # the model read the evidence and said it does not answer
    refusal: float | None = None  # the model's probability of refusing


class AnswerStream:
    """Iterate once for the answer's text pieces.  `sources`, `evidence` and
    `abstained` are known before the first piece; `answer` is set (and the question
    logged) when it ends."""

    def __init__(
        self,
        pieces: Iterator[str],
        sources: tuple[Hit, ...],
        abstained: bool,
        finish: Callable[[str], Answer],
        evidence: tuple[Evidence, ...] = (),
    ) -> None:
        self._pieces = pieces
        self._finish = finish
        self.sources = sources
        self.abstained = abstained
        self.evidence = evidence
        self.answer: Answer | None = None
        self._turn = contextlib.ExitStack()  # a person's turn with the model, if held

    def hold(self, turn: contextlib.ExitStack) -> None:
        """Keep `turn` until the stream ends (or is dropped)."""
        self._turn = turn

    def __iter__(self) -> Iterator[str]:
        collected: list[str] = []
        with self._turn:
            for piece in self._pieces:
                collected.append(piece)
                yield piece
        self.answer = self._finish("".join(collected).strip())
        self.abstained = self.answer.abstained  # the model may have declined

    def complete(self) -> Answer:
        """Consume the whole stream and return the finished answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


def quote(evidence: Evidence) -> str:
    """One evidence sentence as the answer quotes it: verbatim, with [n] and its page."""
    where = f" (page {evidence.hit.page})" if evidence.hit.page is not None else ""
    return f"“{evidence.text}” [{evidence.source}]{where}"


def extractive_text(evidence: Sequence[Evidence]) -> str:
    return "\n\n".join(quote(e) for e in evidence)


class ChatService:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        retriever: Retriever,
        generator: AnswerWriter,
        params: ChatParams,
        audit: AuditTrail | None = None,
        selector: EvidenceSelector | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.retriever = retriever
        self.generator = generator
        self.params = params
        self.audit = audit or AuditTrail(db)
        self.selector = selector or EvidenceSelector(embedder.embed, EvidenceParams())
        self.verifier = verifier or Verifier()

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

    def _words_found(self, nearest: Sequence[Hit]) -> bool:
        """Whether a passage shown was found with the answer model's words and is as
        close to them as a first search must be not to be weak."""
        bar = self.retriever.weak_similarity()
        return any(hit.found_with and (hit.searched_similarity or -1.0) >= bar for hit in nearest)

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
        mode: AnswerMode | None = None,
        record: bool = True,
    ) -> AnswerStream:
        """Start answering.  Raises QuestionRejected before any work for a bad question
        (RateLimited when `user` asks too often).  The question and the sources shown
        for it go to the audit trail under `user`, and the answer to the history;
        `record` False keeps both out (the site's quality check asks its own cases).
        A person's turn with the answer model is held from the search (which may ask
        it for words) to the answer's end, so the quality worker waits throughout
        (`generation.person_turn`)."""
        mode = mode or self.params.mode
        turn = contextlib.ExitStack()
        if mode != AnswerMode.EXTRACTIVE:  # quotes alone: the model is not asked
            turn.enter_context(person_turn(self.generator))
        try:
            stream = self._ask(question, top_k, filters, user, mode, record)
        except BaseException:
            turn.close()
            raise
        stream.hold(turn)
        return stream

    def _ask(
        self,
        question: str,
        top_k: int | None,
        filters: Filters,
        user: str | None,
        mode: AnswerMode,
        record: bool,
    ) -> AnswerStream:
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
        written = _Written()
        computed = computed_figure(self.db, question, hits)
        figure = computed if computed is not None and computed.figure.complete else None

        def finish(
            abstained: bool, sources: tuple[Hit, ...], evidence: tuple[Evidence, ...]
        ) -> Callable[[str], Answer]:
            def done(text: str) -> Answer:
                return self._finish(
                    question,
                    vector,
                    abstained or written.declined,
                    sources,
                    evidence,
                    tuple(written.verdicts),
                    written.refusal,
                    hits,
                    started,
                    user,
                    mode,
                    text,
                    computed,
                    record,
                )

            return done

        if not relevant and figure is None:
            nearest = tuple(hits[:_NEAREST])
            self._audit(record, user, question, nearest)
            if self._words_found(nearest):
                message = ABSTAIN_WITH_WORDS_MESSAGE
            else:
                # The model's words found nothing close: they are not shown either (a
                # sentence such as "The Mona Lisa was painted by Leonardo da Vinci"
                # under "the documents do not contain an answer" reads as an answer).
                message = ABSTAIN_MESSAGE
                nearest = tuple(replace(hit, found_with=None) for hit in nearest)
            return AnswerStream(iter([message]), nearest, True, finish(True, nearest, ()))
        passages = tuple(build_passages(self.db, relevant, self.params.context_neighbours))
        if figure is not None:
            # The figure is the answer: its rows are the evidence and the code did the
            # arithmetic.  No model writes about it (it would do sums of its own); the
            # passages found follow its rows as sources, for context.
            sources = figure.sources + passages
            self._audit(record, user, question, sources)
            return AnswerStream(iter([figure.text()]), sources, False, finish(False, sources, ()))
        evidence, reading = (
            self.selector.select_both(question, vector, passages) if passages else ((), ())
        )
        abstain = decide(question, passages, evidence, self.params.abstention)
        self._audit(record, user, question, passages)
        if abstain.abstain:  # every passage found is shown: the reader may know better
            return AnswerStream(
                iter([abstain.message()]), passages, True, finish(True, passages, ())
            )
        pieces = self._pieces(question, mode, passages, evidence, reading, written)
        if computed is not None:  # a figure asked for that no row holds: said first
            pieces = itertools.chain([computed.text(), "\n\n"], pieces)
        return AnswerStream(pieces, passages, False, finish(False, passages, evidence), evidence)

    def _pieces(
        self,
        question: str,
        mode: AnswerMode,
        passages: tuple[Hit, ...],
        evidence: tuple[Evidence, ...],
        reading: tuple[Evidence, ...],
        written: _Written,
    ) -> Iterator[str]:
        quoted = extractive_text(evidence)
        if mode == AnswerMode.EXTRACTIVE:
            yield quoted
            return
        if mode == AnswerMode.AUTO:
            yield quoted
        shown = 0
        try:
            for verdict in self._write(question, passages, reading, written):
                if mode == AnswerMode.AUTO and not shown:
                    yield f"\n\n{SUMMARY_HEADING} "
                elif shown:
                    yield " "
                yield verdict.rendered()
                shown += 1
        except RagError as exc:  # e.g. the model file is missing: the quotes still stand
            log.error("the answer model could not write: %s", exc)
            if mode == AnswerMode.GENERATIVE and not shown:
                yield quoted
            yield f"\n\n(Only quotes: the answer model could not be used. {exc})"
            return
        yield from self._closing(mode, quoted, written, shown)

    def _closing(
        self, mode: AnswerMode, quoted: str, written: _Written, shown: int
    ) -> Iterator[str]:
        """What follows the model's verified sentences: its refusal, or a word on what
        was left out (in `generative` mode, the quotes when nothing was shown)."""
        if written.declined:
            if mode == AnswerMode.GENERATIVE:
                yield quoted
            yield f"\n\n{DECLINED_MESSAGE}"
            return
        if mode == AnswerMode.GENERATIVE and not shown:
            yield quoted
        elif dropped := len(written.verdicts) - shown:
            yield (
                f"\n\n({dropped} sentence{'s' if dropped > 1 else ''} the model wrote "
                f"{'were' if dropped > 1 else 'was'} left out: not found in the sources.)"
            )

    def _write(
        self,
        question: str,
        passages: tuple[Hit, ...],
        reading: tuple[Evidence, ...],
        written: _Written,
    ) -> Iterator[Verdict]:
        """The model's answer from the evidence it reads: first its probability of
        refusing (at or above `refusal_abstains_at` it has declined, and writes
        nothing); then its answer, which may not open with the refusal.  Each sentence
        is checked as soon as it is complete, and the verified ones are yielded (all go
        to `written`).  An answer that still says the evidence does not answer ends
        there, with nothing shown."""
        prompt = build_evidence_prompt(question, passages, reading)
        written.refusal = self.generator.refusal(prompt)
        if written.refusal >= self.params.refusal_abstains_at:
            written.declined = True
            return
        sources = [h.text for h in passages]
        titles = [h.title for h in passages]
        text = ""
        checked = 0

        def check(body: str, numbers: tuple[int, ...]) -> Verdict | None:
            verdict = self.verifier.sentence(body, numbers, sources, titles, question)
            written.verdicts.append(verdict)
            return verdict if verdict.verified else None

        for piece in self.generator.stream(prompt, answer=True):
            text += piece
            if not checked and says_no_answer(text):
                return
            parts = split_answer(text)
            for body, numbers in parts[checked : len(parts) - 1]:  # the last may go on
                if verdict := check(body, numbers):
                    yield verdict
            checked = max(checked, len(parts) - 1)
        if says_no_answer(text):
            return
        for body, numbers in split_answer(text)[checked:]:
            if verdict := check(body, numbers):
                yield verdict

    def _audit(self, record: bool, user: str | None, question: str, sources: Sequence[Hit]) -> None:
        """Recorded when the sources are chosen, so a reader who leaves before the
        answer ends is on record too."""
        if not record:
            return
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
        evidence: tuple[Evidence, ...],
        verdicts: tuple[Verdict, ...],
        refusal: float | None,
        retrieved: list[Hit],
        started: float,
        user: str | None,
        mode: AnswerMode,
        text: str,
        computed: Computed | None = None,
        record: bool = True,
    ) -> Answer:
        latency_ms = (time.perf_counter() - started) * 1000
        verified = sum(1 for v in verdicts if v.verified)
        query_id = None
        with self.db.session() if record else nullcontext() as session:
            entry = QueryLog(
                question=question,
                embedding=vector,
                answer=text,
                abstained=abstained,
                retrieved=[{"chunk_id": h.chunk_id, "score": round(h.score, 4)} for h in retrieved],
                sources=[_shown(number, hit) for number, hit in enumerate(sources, start=1)],
                latency_ms=latency_ms,
                user_name=user,
                answer_mode=mode.value,
                sentences_written=len(verdicts),
                sentences_verified=verified,
            )
            if session is not None:
                session.add(entry)
                session.flush()
                query_id = entry.id
        cited = (
            []
            if abstained
            else [e.source for e in evidence if mode != AnswerMode.GENERATIVE or not verified]
        )
        cited += [n for v in verdicts if v.verified for n in v.cites]
        if computed is not None:  # its operands' rows are the first sources
            cited += range(1, len(computed.sources) + 1)
        return Answer(
            question=question,
            text=text,
            abstained=abstained,
            sources=sources,
            cited=tuple(dict.fromkeys(cited)),
            latency_ms=latency_ms,
            query_id=query_id,
            mode=mode.value,
            evidence=evidence,
            verdicts=verdicts,
            model=self.generator.model_path.name
            if mode != AnswerMode.EXTRACTIVE and not abstained and refusal is not None
            else None,
            refusal=refusal,
            figure=computed.to_json() if computed is not None else None,
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
