"""Settings: what this appliance runs with (read-only).  Changed in `.env` or the
environment by whoever administers the workstation, then the app is restarted."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.shared import permitted_only, services_or_stop
from rag_core.access.policy import Permission
from rag_core.modelfiles.catalog import EMBEDDING_MODELS
from rag_core.settings import redact_url


def main() -> None:
    services = services_or_stop()
    permitted_only(Permission.MANAGE_ACCOUNTS)
    settings = services.settings
    st.title("Settings")
    st.caption(
        "Read-only. An administrator changes these in the `.env` file (or environment "
        "variables) on the workstation and restarts the appliance."
    )
    embedding, answer = st.columns(2)
    # Plain text, not metrics: model file names are longer than a metric shows.
    catalogued = EMBEDDING_MODELS.get(settings.embedding_space)
    embedding.markdown(
        f"**Embedding model**  \n"
        f"{catalogued.title if catalogued else model_name(settings.embedding_path)} "
        f"· {settings.embedding_backend} backend"
    )
    embedding.caption(f"`{settings.embedding_path}`")
    if (change := services.model_change.progress()) is not None:
        embedding.info(change.line())
    answer.markdown(f"**Answer model**  \n{settings.llm_path.name}")
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
    limits[1].metric("Longest question", f"{settings.question_max_chars:,} chars")
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


def model_name(folder: Path) -> str:
    """The title of the model card (README.md) when it has one, else the folder's name
    (a packaged model's folder is called just "model")."""
    try:
        lines = (folder / "README.md").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    titles = [line[2:].strip() for line in lines if line.startswith("# ")]
    return titles[0] if titles else folder.name


main()
