"""The staff app: Chat, Documents, History, Insights and Settings pages.  Thin on
purpose: every decision is made in rag_core; the pages render.  Run with `make run`
(or `streamlit run app.py`)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Document chat", page_icon="📄", layout="wide")
# Material icons ship inside Streamlit (no font fetched); emoji need a font the
# workstation may lack.
PAGES = [
    st.Page("app_pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("app_pages/documents.py", title="Documents", icon=":material/folder_open:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    st.Page("app_pages/insights.py", title="Insights", icon=":material/monitoring:"),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:"),
]
st.navigation(PAGES).run()
