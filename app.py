"""The staff app: Chat, Documents, History, Insights and Settings pages.  Thin on
purpose: every decision is made in rag_core; the pages render.  Run with `make run`
(or `streamlit run app.py`)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Document chat", page_icon="📄", layout="wide")
PAGES = [
    st.Page("app_pages/chat.py", title="Chat", icon="💬", default=True),
    st.Page("app_pages/documents.py", title="Documents", icon="📁"),
    st.Page("app_pages/history.py", title="History", icon="🕘"),
    st.Page("app_pages/insights.py", title="Insights", icon="📊"),
    st.Page("app_pages/settings.py", title="Settings", icon="⚙️"),
]
st.navigation(PAGES).run()
