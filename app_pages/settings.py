"""Settings: what this appliance runs with (read-only).  Changed in `.env` or the
environment by whoever administers the workstation, then the app is restarted."""

from __future__ import annotations

import streamlit as st

from app_pages.shared import services_or_stop
from rag_core.settings import redact_url


def main() -> None:
    services = services_or_stop()
    settings = services.settings
    st.title("Settings")
    st.caption(
        "Read-only. An administrator changes these in the `.env` file (or environment "
        "variables) on the workstation and restarts the appliance."
    )
    embedding, answer = st.columns(2)
    embedding.metric("Embedding model", settings.embedding_path.name)
    embedding.caption(f"`{settings.embedding_path}`")
    answer.metric("Answer model", settings.llm_path.name)
    answer.caption(f"`{settings.llm_path}`")
    if not settings.llm_path.exists():
        answer.error("This file is missing: questions cannot be answered until it is restored.")
    database, drop = st.columns(2)
    if settings.database_url:
        database.metric("Database", "PostgreSQL server")
        database.caption(f"`{redact_url(settings.database_url)}`")
    else:
        database.metric("Database", "Embedded PostgreSQL")
        database.caption(f"`{settings.data_dir}` · database `{settings.database_name}`")
    drop.metric("Drop folder", settings.drop_dir.name)
    drop.caption(f"`{settings.drop_dir}`")
    limits = st.columns(4)
    limits[0].metric("Largest file", f"{settings.max_file_mb:g} MB")
    limits[1].metric("Longest question", f"{settings.question_max_chars:,} characters")
    limits[2].metric("Passages per answer", settings.top_k)
    limits[3].metric("Relevance floor", f"{settings.relevance_floor:.2f}")
    st.subheader("Every setting")
    st.dataframe(
        [
            {"Setting": name, "Value": value, "What it does": description}
            for name, value, description in settings.described()
        ],
        hide_index=True,
        width="stretch",
    )


main()
