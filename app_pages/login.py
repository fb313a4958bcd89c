"""Sign in: the only page anyone sees before they have."""

from __future__ import annotations

import streamlit as st

from app_pages.shared import attempt, services_or_stop, show_flashes, sign_in

services = services_or_stop()
st.title("Sign in")
show_flashes()
if services.accounts.count() == 0:
    st.warning(
        "No accounts exist yet. On this machine run `python -m rag_core users first-admin` "
        "(`make run` does it on the first start and prints the password once), or "
        "`python -m rag_core users add NAME --role admin`."
    )
with st.form("sign-in"):
    name = st.text_input("Name", autocomplete="username")
    password = st.text_input("Password", type="password", autocomplete="current-password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    signed = attempt(lambda: services.accounts.sign_in(name, password), "signing in")
    if signed is not None:
        sign_in(signed)
        st.rerun()
