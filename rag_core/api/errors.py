"""Every failure as `{"error": {"code": …, "message": …}}` with its HTTP status: a
sentence a person can act on, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_core.access.accounts import AccessDenied, AccountError
from rag_core.access.tokens import InvalidToken
from rag_core.errors import DatabaseUnavailable, QuestionRejected, RagError, RateLimited
from rag_core.library.actions import LibraryActionRefused

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal the routes raise: status, code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"There is no {what}.")


# The service errors, by what they mean to a caller.
_STATUS: list[tuple[type[Exception], int, str]] = [
    (InvalidToken, 401, "unauthorized"),
    (AccessDenied, 403, "forbidden"),
    (RateLimited, 429, "too_many_requests"),
    (QuestionRejected, 400, "bad_question"),
    (LibraryActionRefused, 409, "refused"),
    (AccountError, 409, "refused"),
    (DatabaseUnavailable, 503, "unavailable"),
]


def error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers or None
    )


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    problems: list[dict[str, Any]] = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return 400, "bad_json", "The body is not valid JSON."
    first = problems[0] if problems else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    if first.get("type") == "extra_forbidden":
        return 422, "unknown_field", f"{where}: there is no such field."
    if first.get("type") == "missing":
        return 422, "missing_field", f"{where}: this field is required."
    return 422, "invalid", f"{where}: {first.get('msg', 'invalid value')}."


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(*_validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        message = "There is no such endpoint." if exc.status_code == 404 else str(exc.detail)
        return error(exc.status_code, code, message)

    @app.exception_handler(RagError)
    async def refused(request: Request, exc: RagError) -> JSONResponse:
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
                return error(status, code, str(exc), **headers)
        return error(400, "refused", str(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, "internal", "Something went wrong; the details are in the log.")
