"""The FastAPI application over one set of services: routes, error handlers, the
upload size guard and the audit of every call."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_core.access.audit import Action
from rag_core.api import answers, documents, errors, openai_compat
from rag_core.services import Services

TITLE = "Document chat: local API"
_BODY_SLACK = 1_000_000  # a multipart body's own bytes around the file


class BodyLimit:
    """Refuse a request body over `limit` bytes: at once when its Content-Length says
    so, else as soon as that many bytes have come (nothing over it is kept)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await errors.error(413, "too_large", self._message())(scope, receive, send)
            return
        seen, too_large, answered = 0, False, False

        async def counted() -> Message:
            # Past the limit the app is told the client left, so it stops reading.
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def refuse() -> None:
            nonlocal answered
            if not answered:
                answered = True
                await errors.error(413, "too_large", self._message())(scope, receive, send)

        async def guarded(message: Message) -> None:
            if too_large:
                await refuse()  # instead of whatever the app made of the cut-off body
            else:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await refuse()

    def _message(self) -> str:
        return f"The request body is over the {self.limit / 1e6:g} MB limit."


def create_app(services: Services) -> FastAPI:
    app = FastAPIOffline(
        title=TITLE,
        description=(
            "Every call but /healthz needs `Authorization: Bearer <token>` (Users page, "
            "or `python -m rag_core users token create NAME`). Errors are "
            '`{"error": {"code", "message"}}`.'
        ),
        version="1",
    )
    app.state.services = services
    errors.install(app)

    @app.middleware("http")
    async def audit_calls(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        caller = getattr(request.state, "caller", None)
        if caller is not None:  # an authenticated call: on the audit trail
            detail = {
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
            }
            await run_in_threadpool(services.audit.record, caller.username, Action.API_CALL, detail)
        return response

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict[str, str]:
        """Whether the API answers (no token, no data)."""
        return {"status": "ok"}

    app.include_router(documents.router)
    app.include_router(answers.router)
    app.include_router(openai_compat.router)
    app.add_middleware(BodyLimit, limit=services.ingestor.options.max_file_bytes + _BODY_SLACK)
    return app
