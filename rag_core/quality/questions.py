"""A site test set generated from the library by the answer model (`generation` has the
rules; this module reads the library and asks the model)."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from rag_core.answers.generation import AnswerWriter
from rag_core.answers.prompting import Prompt
from rag_core.db import Chunk, Database, Document
from rag_core.errors import GaveWay
from rag_core.quality.generation import (
    GENERATION_MAX_TOKENS,
    GENERATION_SYSTEM_PROMPT,
    MIN_PASSAGE_WORDS,
    DocumentSpan,
    Generated,
    Passage,
    check,
    check_question,
    parse,
    prompt_text,
    question_written,
    spread,
    unanswerable,
)

log = logging.getLogger(__name__)

# Passages tried per question wanted, at most: most generations are dropped (on
# FinanceBench dev about 4.5 passages were read for each question kept, on the R
# manuals 8.6: 70 kept of the 601 that 6 a question allowed, in 13 min 45 s).
_ATTEMPTS_PER_QUESTION = 10
_MIN_LETTER_SHARE = 0.5  # a passage mostly of figures and dots (a contents page) is skipped


@dataclass
class Generation:
    """What one generation kept and dropped (reason -> count)."""

    kept: list[Generated] = field(default_factory=list)
    unanswerable: list[tuple[str, Generated]] = field(default_factory=list)  # (question, from)
    dropped: Counter[str] = field(default_factory=Counter)
    tried: int = 0


def document_spans(db: Database) -> list[DocumentSpan]:
    """The active documents' passages long enough to ask about, in reading order."""
    select = (
        sa.select(
            Chunk.id, Chunk.document_id, Chunk.text, Document.document_type, Document.created_at
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Document.is_active)
        .order_by(Document.created_at, Document.id, Chunk.chunk_index)
    )
    spans: dict[int, tuple[str, list[int]]] = {}
    with db.session() as session:
        for row in session.execute(select):
            text = row.text
            letters = sum(1 for c in text if c.isalpha())
            if len(text.split()) < MIN_PASSAGE_WORDS or letters < _MIN_LETTER_SHARE * len(text):
                continue
            spans.setdefault(row.document_id, (row.document_type or "", []))[1].append(row.id)
    return [
        DocumentSpan(document_id, kind, order, tuple(ids))
        for order, (document_id, (kind, ids)) in enumerate(spans.items())
    ]


def passage(db: Database, chunk_id: int) -> Passage | None:
    with db.session() as session:
        row = session.execute(
            sa.select(Chunk, Document.title, Document.source_path)
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.id == chunk_id)
        ).first()
        if row is None:
            return None
        chunk, title, source = row
        return Passage(
            chunk.id, chunk.document_id, title, source, chunk.page_start, chunk.page_end, chunk.text
        )


def absent_from_library(db: Database) -> Callable[[str], bool]:
    """Whether a word is in no passage of the library (any case, as a whole word)."""

    def absent(word: str) -> bool:
        with db.session() as session:
            return not session.scalar(
                sa.select(sa.exists().where(Chunk.text.op("~*")(rf"\m{word}\M")))
            )

    return absent


def _written(writer: AnswerWriter, found: Passage, known: set[str]) -> tuple[str, str | None]:
    """The model's text for `found`, and why its question is dropped if that was known
    as soon as the question was written: the model is then stopped before it writes
    the answer (about half of all generations are dropped for their question alone)."""
    prompt = Prompt(GENERATION_SYSTEM_PROMPT, prompt_text(found), ())
    text = ""
    pieces = writer.stream(prompt, max_tokens=GENERATION_MAX_TOKENS)
    try:
        for piece in pieces:
            text += piece
            if (question := question_written(text)) is not None:
                reason = check_question(question, found.text)
                if reason is None and question.lower() in known:
                    reason = "asked before"
                if reason is not None:
                    return text, reason
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # the model stops writing
    return text, None


def generate(
    db: Database,
    writer: AnswerWriter,
    wanted: int,
    *,
    unanswerable_share: float = 0.2,
    seed: int = 0,
    known: set[str] | None = None,
    progress: Callable[[Generation], None] = lambda g: None,
    give_way: Callable[[], None] = lambda: None,
) -> Generation:
    """Up to `wanted` questions the library answers, each from its own passage, plus
    about `unanswerable_share` of that many it cannot answer.  `known`: questions
    already in the set (lower case), not made again.  The model is asked once per
    passage; `progress` is called after each.  A writing stopped for a person's
    question (`GaveWay`) is not judged: `give_way` waits until they are answered, and
    the passage is read again."""
    result = Generation()
    known = set(known or ())
    rng = random.Random(seed)
    ids = spread(document_spans(db), int(wanted * _ATTEMPTS_PER_QUESTION) + 1, seed)
    absent = absent_from_library(db)
    for chunk_id in ids:
        if len(result.kept) >= wanted:
            break
        found = passage(db, chunk_id)
        if found is None:  # the document was replaced meanwhile
            continue
        result.tried += 1
        while True:
            try:
                text, reason = _written(writer, found, known)
                break
            except GaveWay:  # a person's question came first: read it again after
                give_way()
        parsed = parse(text)
        if reason is None:
            reason = "unreadable" if parsed is None else check(*parsed, found.text)
        if reason is None and parsed is not None and parsed[0].lower() in known:
            reason = "asked before"
        if reason is not None or parsed is None:
            result.dropped[reason or "unreadable"] += 1
            log.debug("generated question dropped (%s): %r", reason, text[:200])
        else:
            question, answer = parsed
            known.add(question.lower())
            generated = Generated(question, answer, found)
            result.kept.append(generated)
            if len(result.unanswerable) < unanswerable_share * len(result.kept):
                variant = unanswerable(question, absent, rng)
                if variant is not None and variant.lower() not in known:
                    known.add(variant.lower())
                    result.unanswerable.append((variant, generated))
        progress(result)
    return result
