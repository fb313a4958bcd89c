"""The staff app: Chat, Documents, History, Insights, and for administrators Users,
Audit, Quality and Settings.  Nobody sees more than the sign-in page until they have signed
in (unless sign-in is off, which is allowed only on 127.0.0.1).  Thin on purpose:
every decision is made in rag_core; the pages render.  Run with `make run` (or
`streamlit run app.py`)."""

from __future__ import annotations

import logging

import streamlit as st

from app_pages.shared import services_or_stop, sign_out, signed_in
from rag_core.access import policy
from rag_core.access.exposure import check_exposure
from rag_core.errors import ConfigurationError, RagError

st.set_page_config(page_title="Document chat", page_icon="📄", layout="wide")
services = services_or_stop()
try:
    check_exposure(str(st.get_option("server.address") or ""), services.settings.auth_enabled)
except ConfigurationError as exc:
    logging.getLogger("app").error("%s", exc)
    st.error(str(exc))
    st.stop()

# Material icons ship inside Streamlit (no font fetched); emoji need a font the
# workstation may lack.
PAGES = [
    st.Page("app_pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("app_pages/documents.py", title="Documents", icon=":material/folder_open:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    st.Page("app_pages/insights.py", title="Insights", icon=":material/monitoring:"),
]
ADMIN_PAGES = [
    st.Page("app_pages/users.py", title="Users", icon=":material/group:"),
    st.Page("app_pages/audit.py", title="Audit", icon=":material/policy:"),
    st.Page("app_pages/quality.py", title="Quality", icon=":material/fact_check:"),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:"),
]


def serve_pages() -> None:
    person = signed_in(services)
    if person is None:
        st.navigation(
            [st.Page("app_pages/login.py", title="Sign in", icon=":material/login:")]
        ).run()
        st.stop()
    st.session_state["user"] = person
    if services.settings.auth_enabled:
        st.sidebar.caption(f"Signed in as **{person.username}** ({person.role})")
        if st.sidebar.button("Sign out", icon=":material/logout:"):
            sign_out(services)
            st.rerun()
    st.navigation(PAGES + ADMIN_PAGES if policy.is_admin(person) else PAGES).run()


@st.fragment(run_every=5)
def reload_when_the_database_answers() -> None:
    if services.db.answers():
        st.rerun(scope="app")


try:
    serve_pages()
except RagError as exc:
    # What a page could not catch: the database went away mid-page, say.  A sentence,
    # and the page comes back by itself once the database answers again.
    logging.getLogger("app").warning("page stopped: %s", exc)
    st.warning(str(exc))
    reload_when_the_database_answers()
