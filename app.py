"""Streamlit chat over the document library.  Thin on purpose: every decision is made
in rag_core; this file renders.  Run with `make run` (or `streamlit run app.py`)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, time, timedelta
from pathlib import Path

import streamlit as st

from rag_core.catalog import StatusCounts
from rag_core.chat import Answer
from rag_core.errors import QuestionRejected, RagError
from rag_core.prompting import source_label
from rag_core.retrieval import Filters, Hit
from rag_core.services import Services, build_services, configure_logging
from rag_core.settings import Settings

log = logging.getLogger("app")


@st.cache_resource(show_spinner="Starting the database…")
def get_services() -> Services:
    """One set of services per process, shared by every browser session (it holds no
    per-user state)."""
    settings = Settings()
    configure_logging(settings)
    services = build_services(settings)
    # Load the models while the first page is read; a question asked meanwhile waits
    # for them rather than loading them twice.
    threading.Thread(target=services.warm_up, name="warm-up", daemon=True).start()
    return services


def render_sources(sources: tuple[Hit, ...], cited: tuple[int, ...]) -> None:
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})", expanded=True):
        for number, hit in enumerate(sources, start=1):
            mark = "" if number in cited else " · not cited"
            st.markdown(f"**[{number}] {source_label(hit)}** — score {hit.score:.2f}{mark}")
            snippet = " ".join(hit.text.split())
            st.caption(snippet[:400] + ("…" if len(snippet) > 400 else ""))
            st.caption(f"`{hit.source}`")


def render_answer_notes(answer: Answer) -> None:
    if not answer.abstained and answer.sources and not answer.cited:
        st.info(
            "The model did not cite a source for this answer. Check it against the "
            "passages below before relying on it."
        )


@st.fragment(run_every=5)
def library_status(services: Services) -> None:
    """Counts, progress of files being read, and failures with a retry; refreshed
    every few seconds while the page is open."""
    counts: StatusCounts = services.catalog.status_counts()
    ready, failed = st.columns(2)
    ready.metric("Ready", counts.ready)
    failed.metric("Failed", counts.failed)
    queued, processing = st.columns(2)
    queued.metric("Queued", counts.queued)
    processing.metric("Processing", counts.processing)
    st.caption(f"{counts.chunks:,} passages · drop folder `{services.settings.drop_dir}`")
    rows = services.catalog.documents()
    for row in rows:
        if row.progress is not None:
            done, total = row.progress
            st.progress(done / max(total, 1), text=f"{row.title}: {done}/{total} passages")
    failures = [row for row in rows if row.status == "failed"]
    if failures:
        with st.expander(f"Failed files ({len(failures)})"):
            for row in failures:
                st.markdown(f"**{row.title}** — {row.error}")
                st.button(
                    "Retry",
                    key=f"retry:{row.source}",
                    on_click=retry,
                    args=(services, [Path(row.source)]),
                )
            if len(failures) > 1:
                st.button("Retry all", key="retry:all", on_click=retry, args=(services, None))


def retry(services: Services, paths: list[Path] | None) -> None:
    """A retry button's action; it runs before the page redraws, so the counts show it."""
    queued = services.retry_failed(paths)
    st.toast(f"{len(queued)} file(s) queued for another try; the watcher picks them up.")


def sidebar(services: Services) -> tuple[Filters, int]:
    st.sidebar.header("Library")
    with st.sidebar:
        library_status(services)
    st.sidebar.header("Search")
    types = st.sidebar.multiselect("Document type", services.catalog.document_types())
    tags = st.sidebar.multiselect("Tags", services.catalog.tags())
    every_tag = st.sidebar.toggle("Documents with every tag chosen", disabled=len(tags) < 2)
    drop_dir = services.settings.drop_dir.absolute()
    folder = st.sidebar.selectbox(
        "Folder", services.catalog.folders(drop_dir), index=None, placeholder="Any folder"
    )
    added = st.sidebar.date_input("Added between", value=[], format="YYYY-MM-DD")
    added_from, added_until = date_range(added)
    top_k = st.sidebar.slider("Passages to use", 1, 20, services.settings.top_k)
    if st.sidebar.button("New conversation"):
        st.session_state.messages = []
    filters = Filters(
        document_types=tuple(types),
        tags=() if every_tag else tuple(tags),
        all_tags=tuple(tags) if every_tag else (),
        folder=str(drop_dir / folder) if folder else None,
        added_from=added_from,
        added_until=added_until,
    )
    return filters, top_k


def date_range(picked: object) -> tuple[datetime | None, datetime | None]:
    """The date picker's days as a half-open range of local times (one day picked:
    from that day on)."""
    days = list(picked) if isinstance(picked, tuple | list) else []
    if not days:
        return None, None
    start = datetime.combine(days[0], time.min).astimezone()
    if len(days) < 2:
        return start, None
    return start, datetime.combine(days[1] + timedelta(days=1), time.min).astimezone()


def render_similar(services: Services, answer: Answer) -> None:
    exclude = (answer.query_id,) if answer.query_id is not None else ()
    similar = services.similar_questions(answer.question, exclude=exclude)
    if not similar:
        return
    with st.expander(f"Similar past questions ({len(similar)})"):
        for past in similar:
            when = past.asked_at.astimezone().strftime("%Y-%m-%d %H:%M")
            st.markdown(f"**{past.question}** — {when}")
            st.caption((past.answer or "")[:400])


def main() -> None:
    st.set_page_config(page_title="Document chat", page_icon="📄", layout="wide")
    st.title("Ask your documents")
    try:
        services = get_services()
    except RagError as exc:
        st.error(str(exc))
        st.stop()
    filters, top_k = sidebar(services)

    messages: list[dict[str, object]] = st.session_state.setdefault("messages", [])
    for message in messages:
        with st.chat_message(str(message["role"])):
            st.markdown(str(message["content"]))
            answer = message.get("answer")
            if isinstance(answer, Answer):
                render_answer_notes(answer)
                render_sources(answer.sources, answer.cited)

    question = st.chat_input("Ask a question about your documents")
    if not question:
        if not messages:
            st.caption("Drop PDFs or text files into the drop folder, then ask about them.")
        return
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        try:
            stream = services.chat.ask(question, top_k=top_k, filters=filters)
            st.write_stream(stream)
            answer = stream.answer
        except QuestionRejected as exc:
            st.warning(str(exc))
            return
        except RagError as exc:
            log.exception("answering failed")
            st.error(str(exc))
            return
        except Exception:
            log.exception("answering failed")
            st.error("Something went wrong while answering. The details are in the log.")
            return
        assert answer is not None
        render_answer_notes(answer)
        render_sources(answer.sources, answer.cited)
        render_similar(services, answer)
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": answer.text, "answer": answer})


main()
