"""The rules every way in follows (`rag_core.access.policy`): the app's pages, the command
line and the HTTP API ask the same functions, so these tests cover all three."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag_core.access import policy
from rag_core.access.accounts import AccessDenied, Account, SignedIn
from rag_core.access.policy import Permission
from rag_core.db.models import Role

NOW = datetime(2026, 11, 29, tzinfo=UTC)
STAFF = SignedIn("nurse", Role.STAFF, NOW, NOW)
ADMIN = Account("boss", Role.ADMIN, True, NOW, None)  # behind an API token


def test_staff_may_do_the_everyday_things_and_nothing_else() -> None:
    everyday = {p for p in Permission if p not in policy.ADMIN_ONLY}
    assert everyday == {
        Permission.ASK,
        Permission.SEARCH,
        Permission.READ_DOCUMENTS,
        Permission.UPLOAD,
        Permission.EDIT,
        Permission.REINDEX,
    }
    for permission in Permission:
        assert policy.allowed(STAFF, permission) == (permission in everyday)
        assert policy.allowed(ADMIN, permission)
        assert not policy.allowed(None, permission)


def test_a_refusal_says_what_was_refused() -> None:
    with pytest.raises(AccessDenied, match=r"^Only an administrator may retire a document\.$"):
        policy.require(STAFF, Permission.RETIRE)
    policy.require(ADMIN, Permission.RETIRE)
    policy.require(STAFF, Permission.UPLOAD)


def test_staff_see_their_own_questions_and_administrators_everyones() -> None:
    assert policy.history_owner(STAFF) == "nurse"
    assert policy.history_owner(ADMIN) is None
    assert policy.may_read_answer(STAFF, "nurse")
    assert not policy.may_read_answer(STAFF, "boss")
    assert not policy.may_read_answer(STAFF, None)
    assert policy.may_read_answer(ADMIN, "nurse")
