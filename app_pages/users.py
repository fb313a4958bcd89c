"""Users (administrators only): the accounts that may sign in; add, disable or
enable one, and set a new password.  Accounts are never deleted: the audit trail
names them."""

from __future__ import annotations

import streamlit as st

from app_pages.shared import admin, admin_only, done, flash, services_or_stop, show_flashes, stamp
from rag_core.db.models import Role


def main() -> None:
    services = services_or_stop()
    admin_only()
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
            lambda: services.accounts.add(name, password, Role(role), by=admin().username),
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
                lambda: services.accounts.set_active(chosen, False, by=admin().username),
                f"disabling {chosen}",
            ):
                flash(f"{chosen} can no longer sign in.")
        elif st.button("Enable") and done(
            lambda: services.accounts.set_active(chosen, True, by=admin().username),
            f"enabling {chosen}",
        ):
            flash(f"{chosen} can sign in again.")
        with st.form("reset-password", clear_on_submit=True):
            new = st.text_input("New password", type="password")
            if st.form_submit_button("Set new password") and done(
                lambda: services.accounts.reset_password(chosen, new, by=admin().username),
                f"setting a new password for {chosen}",
            ):
                flash(f"{chosen} has a new password.")


main()
