"""The audit trail: who signed in (or failed to), asked what and was shown which
documents and pages, uploaded, edited, re-indexed, retired or restored which file, and
who managed which account.  Append-only: the database refuses to change or remove a
row (migration 0005), and the app's own role may not even ask.

It lives in the database, not in log files, so it is protected and backed up with the
library; log files stay free of document text and questions (settings: log_content).
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from rag_core.db import Database
from rag_core.db.models import AuditEntry


class Action(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session_expired"
    QUESTION = "question"
    QUESTION_REFUSED = "question_refused"
    UPLOAD = "upload"
    FILE_INGESTED = "file_ingested"  # the watcher read a new or changed file
    FILE_REMOVED = "file_removed"  # its file left the drop folder; out of search
    EDIT = "edit"
    REINDEX = "reindex"
    RETIRE = "retire"
    RESTORE = "restore"
    USER_ADD = "user_add"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    PASSWORD_RESET = "password_reset"
    HISTORY_EXPORT = "history_export"
    AUDIT_EXPORT = "audit_export"
    BACKUP = "backup"
    RESTORE_BACKUP = "restore_backup"
    TOKEN_CREATE = "token_create"
    TOKEN_REVOKE = "token_revoke"
    TOKEN_REFUSED = "token_refused"  # a call with a wrong, revoked or expired token
    API_CALL = "api_call"  # a call to the HTTP API: method, path, status
    QUALITY_RUN = "quality_run"  # a quality check or question generation queued
    QUALITY_CASE = "quality_case"  # a to-fix answer made a case, or dismissed


def command_line_user() -> str:
    """Who an action from `python -m rag_core ...` is recorded as."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no name for this uid (a container, say)
        return "cli"


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    username: str | None
    action: str
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditQuery:
    username: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    total: int


class AuditTrail:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        username: str | None,
        action: Action,
        detail: dict[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        with self.db.session() as session:
            session.add(
                AuditEntry(username=username, action=action, outcome=outcome, detail=detail or {})
            )

    def count(self, username: str, action: Action, within: timedelta) -> int:
        """How often `username` did `action` lately (rate limits, sign-in lockout)."""
        with self.db.session() as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(AuditEntry)
                    .where(
                        AuditEntry.username == username,
                        AuditEntry.action == action,
                        AuditEntry.at > sa.func.now() - within,
                    )
                )
                or 0
            )

    def find(self, query: AuditQuery = AuditQuery()) -> AuditPage:
        where = _conditions(query)
        with self.db.session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*where))
            rows = session.scalars(
                sa.select(AuditEntry)
                .where(*where)
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            ).all()
            records = [
                AuditRecord(r.id, r.at, r.username, r.action, r.outcome, dict(r.detail))
                for r in rows
            ]
        return AuditPage(records, int(total or 0))

    def export_csv(self, query: AuditQuery, by: str | None) -> str:
        """Every record matching `query` (not one page), oldest first, as CSV; the
        export itself is recorded."""
        where = _conditions(query)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "at", "username", "action", "outcome", "detail"])
        with self.db.session() as session:
            for entry in session.scalars(
                sa.select(AuditEntry).where(*where).order_by(AuditEntry.at, AuditEntry.id)
            ):
                writer.writerow(
                    [
                        entry.id,
                        entry.at.isoformat(),
                        entry.username or "",
                        entry.action,
                        entry.outcome,
                        json.dumps(entry.detail, ensure_ascii=False, sort_keys=True),
                    ]
                )
        self.record(by, Action.AUDIT_EXPORT, _query_detail(query))
        return out.getvalue()


def _conditions(query: AuditQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.username:
        where.append(AuditEntry.username == query.username)
    if query.action:
        where.append(AuditEntry.action == query.action)
    if query.since:
        where.append(AuditEntry.at >= query.since)
    if query.until:
        where.append(AuditEntry.at < query.until)
    return where


def _query_detail(query: AuditQuery) -> dict[str, Any]:
    return {
        "username": query.username,
        "action": query.action,
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
    }
