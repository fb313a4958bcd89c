"""Who may do what: the one set of rules the app's pages, the command line and the HTTP
API follow, so none of them decides on its own.

- Everyone signed in (staff and administrators) asks, searches, reads the documents
  list, uploads, edits a document's details and has a document read again.
- Only administrators retire and restore documents, manage accounts and their API
  tokens, read the audit trail and everyone's question history, and measure the
  site's answer quality (the Quality page: its cases come from everyone's questions).
- Staff see their own past questions and answers only; administrators everyone's.
- The per-person question limit is `ChatService.check_rate`; upload limits are
  `Library.upload`'s: the same for every way in.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from rag_core.access.accounts import AccessDenied
from rag_core.db.models import Role


class Person(Protocol):
    """Anyone acting: a browser session (`SignedIn`), an account behind an API token
    (`Account`)."""

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> Role: ...


class Permission(StrEnum):
    ASK = "ask questions"
    SEARCH = "search"
    READ_DOCUMENTS = "read the documents list"
    UPLOAD = "upload files"
    EDIT = "edit a document's details"
    REINDEX = "have a document read again"
    RETIRE = "retire a document"
    RESTORE = "restore a document"
    MANAGE_ACCOUNTS = "manage accounts and tokens"
    READ_AUDIT = "read the audit trail"
    READ_ALL_HISTORY = "read everyone's questions"
    CHECK_QUALITY = "measure answer quality and review rated answers"


ADMIN_ONLY = frozenset(
    {
        Permission.RETIRE,
        Permission.RESTORE,
        Permission.MANAGE_ACCOUNTS,
        Permission.READ_AUDIT,
        Permission.READ_ALL_HISTORY,
        Permission.CHECK_QUALITY,
    }
)


def is_admin(person: Person | None) -> bool:
    return person is not None and person.role == Role.ADMIN


def allowed(person: Person | None, permission: Permission) -> bool:
    if person is None:
        return False
    return permission not in ADMIN_ONLY or is_admin(person)


def require(person: Person | None, permission: Permission) -> None:
    """Raises AccessDenied, with a sentence, unless `person` may."""
    if not allowed(person, permission):
        raise AccessDenied(f"Only an administrator may {permission.value}.")


def history_owner(person: Person) -> str | None:
    """Whose questions `person` sees: their own (staff), or everyone's (None)."""
    return None if allowed(person, Permission.READ_ALL_HISTORY) else person.username


def may_read_answer(person: Person, asked_by: str | None) -> bool:
    """Whether `person` may read (and rate) an answer `asked_by` someone."""
    owner = history_owner(person)
    return owner is None or owner == asked_by
