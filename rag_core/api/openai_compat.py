"""OpenAI's chat API, as far as a chat client needs it: GET /v1/models and POST
/v1/chat/completions, streaming or not.  The last user message is the question;
the user messages before it feed the follow-up rule (`rag_core.answers.conversation`),
as in the app.  The answer carries its [n] citations in the text and its sources in
an extra field `sources`.  Sampling options (temperature, max_tokens, …) are
accepted and not used: answers are quoted and verified the same way for every
client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from rag_core.access.accounts import Account
from rag_core.access.policy import Permission
from rag_core.answers.chat import AnswerStream
from rag_core.answers.conversation import Rewrite, Turn, next_turn
from rag_core.api.answers import answer_json
from rag_core.api.auth import allowed, caller, services_of
from rag_core.api.errors import ApiError
from rag_core.api.schemas import ChatCompletionRequest, ChatMessage

router = APIRouter(prefix="/v1", tags=["openai"])
Caller = Annotated[Account, Depends(caller)]
MODEL = "local-documents"


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def question_of(messages: list[ChatMessage], rewrite: Rewrite | None = None) -> Turn:
    """The turn the last user message makes after the user messages before it (the
    earlier turns only set the topic, so only the last is given to `rewrite`)."""
    asked = [_text(m) for m in messages if m.role == "user" and _text(m).strip()]
    if not asked:
        raise ApiError(400, "bad_question", "There is no user message to answer.")
    turn: Turn | None = None
    for number, question in enumerate(asked, start=1):
        turn = next_turn(question, turn, rewrite if number == len(asked) else None)
    assert turn is not None
    return turn


@router.get("/models")
def models(person: Caller) -> dict[str, Any]:
    """The one model this API answers as: the documents, quoted."""
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "this appliance"}],
    }


def _chunk(ident: str, created: int, delta: dict[str, Any], finish: str | None) -> str:
    body = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _streamed(stream: AnswerStream, ident: str, created: int) -> Iterator[str]:
    yield _chunk(ident, created, {"role": "assistant", "content": ""}, None)
    for piece in stream:
        yield _chunk(ident, created, {"content": piece}, None)
    last = json.loads(_chunk(ident, created, {}, "stop")[len("data: ") :])
    assert stream.answer is not None  # set once the pieces are through
    last["sources"] = answer_json(stream.answer)["sources"]
    yield f"data: {json.dumps(last)}\n\n"
    yield "data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
def chat_completions(
    request: Request, person: Caller, body: ChatCompletionRequest
) -> dict[str, Any] | StreamingResponse:
    allowed(person, Permission.ASK)
    services = services_of(request)
    turn = question_of(body.messages, services.rewrite)
    stream = services.chat.ask(turn.standalone, user=person.username)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.stream:
        return StreamingResponse(_streamed(stream, ident, created), media_type="text/event-stream")
    answer = stream.complete()
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "sources": answer_json(answer)["sources"],
        "searched_for": turn.standalone,
    }
