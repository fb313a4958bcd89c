"""Who is calling: the account behind the call's bearer token (`rag_core.access.tokens`)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from rag_core.access.accounts import Account
from rag_core.access.policy import Permission, require
from rag_core.services import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def caller(request: Request) -> Account:
    """The token's owner (InvalidToken, a 401, otherwise), remembered for the audit
    of this call."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    account = await run_in_threadpool(services_of(request).tokens.authenticate, presented)
    request.state.caller = account
    return account


def allowed(person: Account, permission: Permission) -> Account:
    """`person`, if `rag_core.access.policy` lets them (AccessDenied, a 403, otherwise)."""
    require(person, permission)
    return person
