"""Local accounts: who may sign in, with which role, and their sessions' lifetime.

Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes); the
hash carries its parameters, so stronger defaults later rehash at the next sign-in.
A wrong password and an unknown name take the same time and give the same message.
After `lockout_failures` failed sign-ins within `lockout_minutes` a name is refused
until the window passes, whatever the password.  Every sign-in, failure and change
of an account is written to the audit trail.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rag_core.access.audit import Action, AuditTrail
from rag_core.db import Database
from rag_core.db.models import Role, User
from rag_core.errors import RagError

log = logging.getLogger(__name__)

_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")


class AccountError(RagError):
    """A refused account change (bad name, weak password, last admin...)."""


class SignInFailed(RagError):
    """Wrong name or password, a disabled account, or too many attempts."""


class AccessDenied(RagError):
    """The signed-in person's role does not allow the action."""


@dataclass(frozen=True)
class AccountParams:
    min_password_length: int = 10
    lockout_failures: int = 5
    lockout_minutes: float = 15.0
    session_idle_minutes: float = 30.0
    session_max_hours: float = 12.0


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class SignedIn:
    """One browser session's sign-in: who, and when it started and was last used."""

    username: str
    role: Role
    started: datetime
    last_seen: datetime

    def expired(self, now: datetime, params: AccountParams) -> bool:
        return now - self.last_seen > timedelta(
            minutes=params.session_idle_minutes
        ) or now - self.started > timedelta(hours=params.session_max_hours)

    def touched(self, now: datetime) -> SignedIn:
        return SignedIn(self.username, self.role, self.started, now)


class Accounts:
    def __init__(self, db: Database, audit: AuditTrail, params: AccountParams) -> None:
        self.db = db
        self.audit = audit
        self.params = params
        self._hasher = PasswordHasher()

    @cached_property
    def _decoy(self) -> str:
        """Verified against for unknown names, so they cost what a wrong password does.
        Made at the first sign-in, not with the services: a hash costs 64 MiB and
        a tenth of a second, which commands that never sign anyone in need not pay."""
        return self._hasher.hash("not a password of anyone")

    # --- managing accounts ------------------------------------------------------------
    def add(self, username: str, password: str, role: Role, *, by: str | None) -> Account:
        username = self._valid_name(username)
        self._check_password(password, username)
        with self.db.session() as session:
            if session.scalar(sa.select(User.id).where(User.username == username)):
                raise AccountError(f"There is already an account named {username!r}.")
            user = User(
                username=username,
                password_hash=self._hasher.hash(password),
                role=role,
                password_changed_at=datetime.now(UTC),
            )
            session.add(user)
            session.flush()
            account = account_of(user)
        self.audit.record(by, Action.USER_ADD, {"account": username, "role": str(role)})
        log.info("account %s (%s) added by %s", username, role, by)
        return account

    def list(self) -> list[Account]:
        with self.db.session() as session:
            return [account_of(u) for u in session.scalars(sa.select(User).order_by(User.username))]

    def get(self, username: str) -> Account | None:
        with self.db.session() as session:
            user = session.scalar(sa.select(User).where(User.username == username.lower()))
            return account_of(user) if user else None

    def count(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(User)) or 0)

    def set_active(self, username: str, active: bool, *, by: str | None) -> None:
        username = username.strip().lower()
        with self.db.session() as session:
            user = self._existing(session, username)
            if not active and user.role == Role.ADMIN and user.active:
                others = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(User)
                    .where(User.role == Role.ADMIN, User.active, User.id != user.id)
                )
                if not others:
                    raise AccountError(
                        f"{username} is the last active administrator; add or enable "
                        "another administrator first."
                    )
            user.active = active
        self.audit.record(
            by, Action.USER_ENABLE if active else Action.USER_DISABLE, {"account": username}
        )

    def reset_password(self, username: str, password: str, *, by: str | None) -> None:
        username = username.strip().lower()
        self._check_password(password, username)
        with self.db.session() as session:
            user = self._existing(session, username)
            user.password_hash = self._hasher.hash(password)
            user.password_changed_at = datetime.now(UTC)
        self.audit.record(by, Action.PASSWORD_RESET, {"account": username})

    # --- signing in -------------------------------------------------------------------
    def sign_in(self, username: str, password: str) -> SignedIn:
        """The new session of `username`, or SignInFailed with a reason that does not
        tell whether the name exists."""
        name = username.strip().lower()[:64]
        window = timedelta(minutes=self.params.lockout_minutes)
        if self.audit.count(name, Action.LOGIN_FAILED, window) >= self.params.lockout_failures:
            self.audit.record(name, Action.LOGIN_FAILED, {"reason": "locked out"}, "refused")
            raise SignInFailed(
                "Too many failed sign-ins for this name. Wait "
                f"{self.params.lockout_minutes:g} minutes, or ask an administrator."
            )
        with self.db.session() as session:
            user = session.scalar(sa.select(User).where(User.username == name))
            verified = self._verify(user.password_hash if user else self._decoy, password)
            if user is None or not verified or not user.active:
                reason = "unknown name" if user is None else "wrong password"
                if user is not None and verified:
                    reason = "account disabled"
                self.audit.record(name, Action.LOGIN_FAILED, {"reason": reason}, "refused")
                log.info("sign-in refused for %r: %s", name, reason)
                if reason == "account disabled":
                    raise SignInFailed("This account is disabled. Ask an administrator.")
                raise SignInFailed("Wrong name or password.")
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
            now = datetime.now(UTC)
            user.last_login_at = now
            role = Role(user.role)
        self.audit.record(name, Action.LOGIN)
        return SignedIn(name, role, now, now)

    def still_valid(self, signed_in: SignedIn, now: datetime) -> SignedIn | None:
        """The session touched at `now`, or None if it expired or its account was
        disabled or demoted meanwhile (the change applies at the next page load)."""
        if signed_in.expired(now, self.params):
            self.audit.record(signed_in.username, Action.SESSION_EXPIRED)
            return None
        account = self.get(signed_in.username)
        if account is None or not account.active or account.role is not signed_in.role:
            return None
        return signed_in.touched(now)

    def sign_out(self, signed_in: SignedIn) -> None:
        self.audit.record(signed_in.username, Action.LOGOUT)

    # --- helpers ----------------------------------------------------------------------
    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def _valid_name(self, username: str) -> str:
        name = username.strip().lower()
        if not _USERNAME.match(name):
            raise AccountError(
                "A user name is 2–40 characters: a letter first, then letters, digits, "
                "dots, dashes or underscores."
            )
        return name

    def _check_password(self, password: str, username: str) -> None:
        if len(password) < self.params.min_password_length:
            raise AccountError(
                f"The password must have at least {self.params.min_password_length} characters."
            )
        if username and username in password.lower():
            raise AccountError("The password must not contain the user name.")

    def _existing(self, session: sa.orm.Session, username: str) -> User:
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise AccountError(f"There is no account named {username!r}.")
        return user


def account_of(user: User) -> Account:
    return Account(user.username, Role(user.role), user.active, user.created_at, user.last_login_at)
