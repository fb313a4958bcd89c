"""/api/search, /api/ask (with server-sent events), feedback on an answer, the
question history and /api/status: the chat and history pages' operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from rag_core.access import policy
from rag_core.access.accounts import Account
from rag_core.access.policy import Permission
from rag_core.answers.chat import Answer, AnswerStream
from rag_core.api.auth import allowed, caller, services_of
from rag_core.api.errors import ApiError, not_found
from rag_core.api.schemas import AskRequest, Feedback, SearchFilters, SearchRequest
from rag_core.library.history import HistoryQuery, LoggedAnswer
from rag_core.search.hits import Filters
from rag_core.search.retrieval import Mode

router = APIRouter(prefix="/api")
Caller = Annotated[Account, Depends(caller)]


def filters_of(given: SearchFilters) -> Filters:
    return Filters(document_types=tuple(given.document_types), tags=tuple(given.tags))


def answer_json(answer: Answer) -> dict[str, Any]:
    """The command line's `ask --json`, with the answer's id (what feedback rates), its
    question, and each source's number and whether the text cites it."""
    shown = answer.to_json()
    return {
        "id": answer.query_id,
        "question": answer.question,
        **shown,
        "sources": [
            {"number": number, "cited": number in answer.cited, **source}
            for number, source in enumerate(shown["sources"], start=1)
        ],
    }


@router.post("/search", tags=["answers"])
def search(request: Request, person: Caller, body: SearchRequest) -> dict[str, Any]:
    """Passages for a query: hybrid (default), vector or full-text; the CLI's JSON."""
    allowed(person, Permission.SEARCH)
    hits = services_of(request).retriever.search(
        body.query, top_k=body.top_k, filters=filters_of(body.filters), mode=Mode(body.mode)
    )
    return {"query": body.query, "hits": [hit.to_json() for hit in hits]}


def events(stream: AnswerStream) -> Iterator[str]:
    """The answer as server-sent events: `piece`s of text, then `answer` (the whole
    answer with its sources, as without streaming)."""
    for piece in stream:
        yield f"event: piece\ndata: {json.dumps({'text': piece})}\n\n"
    assert stream.answer is not None  # set once the pieces are through
    yield f"event: answer\ndata: {json.dumps(answer_json(stream.answer))}\n\n"


@router.post("/ask", tags=["answers"], response_model=None)
def ask(request: Request, person: Caller, body: AskRequest) -> dict[str, Any] | StreamingResponse:
    """An answer quoted from the documents, with its numbered sources, or an honest
    "not found" (`abstained`).  `stream: true` sends server-sent events."""
    allowed(person, Permission.ASK)
    # Refusals (an empty or long question, the question limit) come before any work.
    stream = services_of(request).chat.ask(
        body.question, top_k=body.top_k, filters=filters_of(body.filters), user=person.username
    )
    if body.stream:
        return StreamingResponse(events(stream), media_type="text/event-stream")
    return answer_json(stream.complete())


def _entry(entry: LoggedAnswer) -> dict[str, Any]:
    return {
        "id": entry.id,
        "asked_at": entry.asked_at.isoformat(),
        "asked_by": entry.user_name,
        "question": entry.question,
        "answer": entry.answer,
        "abstained": entry.abstained,
        "sources": [
            {"number": s.number, "title": s.title, "source": s.source, "page": s.page}
            for s in entry.sources
        ],
        "rating": entry.feedback,
        "comment": entry.feedback_comment,
    }


@router.post("/answers/{answer_id}/feedback", tags=["answers"])
def feedback(request: Request, person: Caller, answer_id: int, body: Feedback) -> dict[str, Any]:
    """Rate an answer (1 to 5) and say what was wrong or missing: your own answers (an
    administrator: anyone's)."""
    services = services_of(request)
    entry = services.history.get(answer_id)
    if entry is None or not policy.may_read_answer(person, entry.user_name):
        raise not_found(f"answer {answer_id} of yours")
    if body.rating is None and body.comment is None:
        raise ApiError(422, "missing_field", "Give a rating, a comment or both.")
    if body.rating is not None:
        services.history.rate(answer_id, body.rating)
    if body.comment is not None:
        services.history.comment(answer_id, body.comment)
    updated = services.history.get(answer_id)
    assert updated is not None
    return _entry(updated)


@router.get("/history", tags=["history"])
def history(
    request: Request,
    person: Caller,
    search: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Past questions and answers, newest first: your own (an administrator's:
    everyone's)."""
    page = services_of(request).history.find(
        HistoryQuery(
            search=search, asked_by=policy.history_owner(person), limit=limit, offset=offset
        )
    )
    return {"total": page.total, "entries": [_entry(e) for e in page.entries]}


@router.get("/history/similar", tags=["history"])
def similar(
    request: Request, person: Caller, q: Annotated[str, Query(min_length=1, max_length=2000)]
) -> dict[str, Any]:
    """Questions asked before that mean nearly the same (yours; an administrator's:
    everyone's)."""
    found = services_of(request).similar_questions(q, asked_by=policy.history_owner(person))
    return {
        "question": q,
        "similar": [
            {
                "id": p.id,
                "question": p.question,
                "similarity": round(p.similarity, 4),
                "asked_at": p.asked_at.isoformat(),
            }
            for p in found
        ],
    }


@router.get("/status", tags=["status"])
def status(request: Request, person: Caller) -> dict[str, Any]:
    """Counts by status, the queue, and the files that failed with their reasons."""
    allowed(person, Permission.READ_DOCUMENTS)
    services = services_of(request)
    counts = services.catalog.status_counts()
    return {
        "ready": counts.ready,
        "processing": counts.processing,
        "failed": counts.failed,
        "queued": counts.queued,
        "passages": counts.chunks,
        "failures": [
            {"file": row.source, "error": row.error} for row in services.catalog.failures()
        ],
    }
