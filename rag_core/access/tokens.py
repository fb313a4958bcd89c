"""Personal API tokens: a person's key to the local HTTP API (`rag_core.api`).

A token is 32 random bytes (`rag_` and 43 URL-safe characters), shown once when it is
made and stored only as its SHA-256: random keys need no slow hash, and a copy of the
database gives no usable token.  It speaks for its person with their role as it is
now: disabling the account, or revoking or outliving the token, stops it at the next
call.  Made, revoked and refused tokens are on the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from rag_core.access.accounts import Account, AccountError, account_of
from rag_core.access.audit import Action, AuditTrail
from rag_core.db import Database
from rag_core.db.models import ApiToken, User
from rag_core.errors import RagError

PREFIX = "rag_"
_SHOWN_CHARS = 12  # of a token, kept to tell tokens apart: "rag_AbCdEfGh"


class InvalidToken(RagError):
    """No token, or one that is wrong, revoked, expired or of a disabled account."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    def create(
        self, username: str, name: str, *, expires_in_days: float | None, by: str | None
    ) -> tuple[str, TokenInfo]:
        """A new token of `username` (shown once: keep it), and what is kept of it."""
        name = " ".join(name.split())[:80]
        if not name:
            raise AccountError("Give the token a name, to tell it apart later.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise AccountError("A token's lifetime is a positive number of days.")
        token = PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as session:
            user = session.scalar(sa.select(User).where(User.username == username.lower()))
            if user is None:
                raise AccountError(f"There is no account named {username!r}.")
            if not user.active:
                raise AccountError(f"{user.username} is disabled; enable the account first.")
            row = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=_digest(token),
                prefix=token[:_SHOWN_CHARS],
                expires_at=datetime.now(UTC) + timedelta(days=expires_in_days)
                if expires_in_days is not None
                else None,
            )
            session.add(row)
            session.flush()
            info = _info(row, user.username)
        self.audit.record(
            by, Action.TOKEN_CREATE, {"account": info.username, "token": info.prefix, "name": name}
        )
        return token, info

    def list(self, username: str | None = None) -> list[TokenInfo]:
        """Every token (of `username`), newest first."""
        statement = (
            sa.select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
        if username is not None:
            statement = statement.where(User.username == username.lower())
        with self.db.session() as session:
            return [_info(row, name) for row, name in session.execute(statement).all()]

    def revoke(self, token_id: int, *, by: str | None) -> TokenInfo:
        with self.db.session() as session:
            found = session.execute(
                sa.select(ApiToken, User.username)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.id == token_id)
            ).first()
            if found is None:
                raise AccountError(f"There is no token number {token_id}.")
            row, username = found
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            info = _info(row, username)
        self.audit.record(by, Action.TOKEN_REVOKE, {"account": username, "token": info.prefix})
        return info

    def authenticate(self, token: str | None) -> Account:
        """The account a token speaks for now, or InvalidToken with the reason."""
        if not token:
            raise InvalidToken("A token is needed: send 'Authorization: Bearer <token>'.")
        with self.db.session() as session:
            found = session.execute(
                sa.select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == _digest(token))
            ).first()
            now = datetime.now(UTC)
            reason = None
            if found is None:
                reason = "This token is not known."
            else:
                row, user = found
                if row.revoked_at is not None:
                    reason = "This token was revoked."
                elif row.expires_at is not None and row.expires_at <= now:
                    reason = "This token has expired."
                elif not user.active:
                    reason = "The account of this token is disabled."
            if reason is not None:
                self.audit.record(
                    found[1].username if found else None,
                    Action.TOKEN_REFUSED,
                    {"token": token[:_SHOWN_CHARS], "reason": reason},
                    "refused",
                )
                raise InvalidToken(reason)
            assert found is not None
            row, user = found
            # Once a minute at most: a write on every call would cost every call.
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                row.last_used_at = now
            return account_of(user)


def _info(row: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(
        row.id,
        username,
        row.name,
        row.prefix,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )
