"""Users (administrators only): the accounts that may sign in; add, disable or
enable one, set a new password, and make or revoke its API tokens.  Accounts are
never deleted: the audit trail names them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import streamlit as st

from app_pages.shared import (
    attempt,
    done,
    escape,
    flash,
    permitted,
    permitted_only,
    services_or_stop,
    show_flashes,
    stamp,
)
from rag_core.access.policy import Permission
from rag_core.db.models import Role
from rag_core.services import Services


def main() -> None:
    services = services_or_stop()
    permitted_only(Permission.MANAGE_ACCOUNTS)
    st.title("Users")
    show_flashes()
    accounts = services.accounts.list()
    st.dataframe(
        [
            {
                "name": a.username,
                "role": str(a.role),
                "state": "active" if a.active else "disabled",
                "added": stamp(a.created_at),
                "last sign-in": stamp(a.last_login_at) if a.last_login_at else "",
            }
            for a in accounts
        ],
        hide_index=True,
        width="stretch",
    )
    with st.expander("Add an account"), st.form("add-user", clear_on_submit=True):
        name = st.text_input("Name", help="2–40 characters: letters, digits, . - _")
        role = st.selectbox("Role", [Role.STAFF.value, Role.ADMIN.value])
        password = st.text_input(
            "Password",
            type="password",
            help=f"At least {services.settings.min_password_length} characters.",
        )
        if st.form_submit_button("Add account", type="primary") and done(
            lambda: services.accounts.add(
                name, password, Role(role), by=permitted(Permission.MANAGE_ACCOUNTS).username
            ),
            f"adding the account {name}",
        ):
            flash(f"Added the account {name.strip().lower()} ({role}).")
    if not accounts:
        return
    with st.expander("Change an account"):
        chosen = st.selectbox("Account", [a.username for a in accounts])
        account = next(a for a in accounts if a.username == chosen)
        if account.active:
            if st.button("Disable", help="It can no longer sign in; open sessions end.") and done(
                lambda: services.accounts.set_active(
                    chosen, False, by=permitted(Permission.MANAGE_ACCOUNTS).username
                ),
                f"disabling {chosen}",
            ):
                flash(f"{chosen} can no longer sign in.")
        elif st.button("Enable") and done(
            lambda: services.accounts.set_active(
                chosen, True, by=permitted(Permission.MANAGE_ACCOUNTS).username
            ),
            f"enabling {chosen}",
        ):
            flash(f"{chosen} can sign in again.")
        with st.form("reset-password", clear_on_submit=True):
            new = st.text_input("New password", type="password")
            if st.form_submit_button("Set new password") and done(
                lambda: services.accounts.reset_password(
                    chosen, new, by=permitted(Permission.MANAGE_ACCOUNTS).username
                ),
                f"setting a new password for {chosen}",
            ):
                flash(f"{chosen} has a new password.")
    tokens_panel(services, [a.username for a in accounts if a.active])


def revoke(services: Services, token_id: int) -> None:
    services.tokens.revoke(token_id, by=permitted(Permission.MANAGE_ACCOUNTS).username)


def tokens_panel(services: Services, names: list[str]) -> None:
    """Personal tokens for the HTTP API (`rag_core.access.tokens`): made here or with
    `python -m rag_core users token`, shown once, revoked at once."""
    if not names:
        return
    with st.expander("API tokens"):
        chosen = st.selectbox("Tokens of", names, key="token-account")
        with st.form("add-token", clear_on_submit=True):
            name = st.text_input("Token name", help="What uses it: 'intranet page', 'EHR'")
            days = st.number_input("Expires after (days; 0: never)", min_value=0, value=90)
            if st.form_submit_button("Make a token"):
                made = attempt(
                    lambda: services.tokens.create(
                        chosen,
                        name,
                        expires_in_days=float(days) or None,
                        by=permitted(Permission.MANAGE_ACCOUNTS).username,
                    ),
                    "making the token",
                )
                if made is not None:
                    st.success("Copy the token now: it is not shown again.")
                    st.code(made[0], language=None)
        now = datetime.now(UTC)
        tokens = services.tokens.list(chosen)
        for token in tokens:
            left, right = st.columns([4, 1])
            expires = stamp(token.expires_at) if token.expires_at else "never"
            used = stamp(token.last_used_at) if token.last_used_at else "never"
            left.markdown(
                f"**{escape(token.name)}** `{token.prefix}…` — {token.state(now)}; "
                f"expires {expires}; last used {used}"
            )
            active = token.state(now) == "active"
            if (
                active
                and right.button("Revoke", key=f"revoke:{token.id}")
                and done(partial(revoke, services, token.id), f"revoking {token.name}")
            ):
                flash(f"The token {token.name} no longer works.")
                st.rerun()
        if not tokens:
            st.caption("No tokens yet.")


main()
