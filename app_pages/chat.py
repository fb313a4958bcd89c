"""Chat: a conversation per browser session.  Follow-ups are made stand-alone before
retrieval; each answer streams, then shows its numbered sources as cards with the
question's words highlighted and the whole page one click away, and takes feedback."""

from __future__ import annotations

import logging

import streamlit as st

from app_pages.shared import (
    attempt,
    date_range,
    done,
    escape,
    library_status,
    services_or_stop,
    show_similar,
    user,
)
from rag_core.answers.chat import Answer
from rag_core.answers.conversation import Turn, next_turn
from rag_core.answers.highlight import highlight
from rag_core.answers.prompting import source_label
from rag_core.errors import QuestionRejected, RagError
from rag_core.hits import Filters, Hit
from rag_core.services import Services

log = logging.getLogger("app.chat")
WHOLE_PAGE_MAX_CHARS = 20_000


def search_sidebar(services: Services) -> tuple[Filters, int]:
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
    if st.sidebar.button("New conversation", icon="🧹"):
        st.session_state.conversation = []
    filters = Filters(
        document_types=tuple(types),
        tags=() if every_tag else tuple(tags),
        all_tags=tuple(tags) if every_tag else (),
        folder=str(drop_dir / folder) if folder else None,
        added_from=added_from,
        added_until=added_until,
    )
    return filters, top_k


@st.cache_data(ttl=300, max_entries=256, show_spinner=False)
def page_text(_services: Services, document_id: int, page: int | None) -> str:
    text = _services.catalog.page_text(document_id, page)
    if len(text) > WHOLE_PAGE_MAX_CHARS:
        return text[:WHOLE_PAGE_MAX_CHARS] + "\n…"
    return text


def highlighted(text: str, question: str) -> str:
    return "".join(
        f":orange-background[{escape(s.text)}]" if s.match else escape(s.text)
        for s in highlight(" ".join(text.split()), question)
    )


def render_sources(services: Services, turn: Turn, answer: Answer) -> None:
    if not answer.sources:
        return
    st.markdown(f"**Sources ({len(answer.sources)})**")
    tabs = st.tabs([f"[{n}] {hit.title[:28]}" for n, hit in enumerate(answer.sources, start=1)])
    for number, (tab, hit) in enumerate(zip(tabs, answer.sources, strict=True), start=1):
        with tab:
            render_card(services, turn, number, hit, cited=number in answer.cited)


def render_card(services: Services, turn: Turn, number: int, hit: Hit, *, cited: bool) -> None:
    with st.container(border=True):
        status = "cited in the answer" if cited else "not cited"
        st.markdown(f"**[{number}] {escape(source_label(hit))}**")
        st.caption(f"Relevance {hit.score:.2f} · {status} · `{hit.source}`")
        st.markdown(highlighted(hit.text, turn.standalone))
        label = f"Whole page {hit.page}" if hit.page is not None else "Whole text"
        with st.expander(label):
            st.text(page_text(services, hit.document_id, hit.page))


def render_feedback(services: Services, answer: Answer) -> None:
    if answer.query_id is None:
        return
    query_id = answer.query_id
    left, right = st.columns([1, 3])
    with left:
        st.feedback(
            "stars",
            key=f"rating:{query_id}",
            on_change=save_rating,
            args=(services, query_id),
        )
    with right:
        st.text_input(
            "Comment on this answer (optional)",
            key=f"comment:{query_id}",
            on_change=save_comment,
            args=(services, query_id),
            placeholder="What was wrong or missing?",
            label_visibility="collapsed",
        )


def save_rating(services: Services, query_id: int) -> None:
    stars = st.session_state.get(f"rating:{query_id}")
    rating = None if stars is None else int(stars) + 1
    if done(lambda: services.history.rate(query_id, rating), "saving your rating"):
        st.toast("Thank you, your rating is saved.")


def save_comment(services: Services, query_id: int) -> None:
    text = str(st.session_state.get(f"comment:{query_id}") or "")
    if done(lambda: services.history.comment(query_id, text), "saving your comment"):
        st.toast("Thank you, your comment is saved.")


def own_questions_only() -> str | None:
    """Staff see their own past questions; administrators everyone's."""
    return None if user().role == "admin" else user().username


def render_similar(services: Services, answer: Answer) -> None:
    exclude = (answer.query_id,) if answer.query_id is not None else ()
    similar = attempt(
        lambda: services.similar_questions(
            answer.question, exclude=exclude, asked_by=own_questions_only()
        ),
        "looking up similar questions",
    )
    if similar:
        show_similar(similar)


def render_answer(services: Services, turn: Turn, answer: Answer, *, latest: bool) -> None:
    if turn.rewritten:
        st.caption(f"Searched for: {escape(turn.standalone)}")
    if not answer.abstained and answer.sources and not answer.cited:
        st.info(
            "The model did not cite a source for this answer. Check it against the "
            "passages below before relying on it."
        )
    render_sources(services, turn, answer)
    render_feedback(services, answer)
    if latest:
        render_similar(services, answer)


def ask(services: Services, turn: Turn, filters: Filters, top_k: int) -> Answer | None:
    """Stream the answer into the page; None (and a message) if it could not be given."""
    try:
        stream = services.chat.ask(
            turn.standalone, top_k=top_k, filters=filters, user=user().username
        )
        if turn.rewritten:
            st.caption(f"Searched for: {escape(turn.standalone)}")
        st.write_stream(stream)
        return stream.answer
    except QuestionRejected as exc:
        st.warning(str(exc))
    except RagError as exc:
        log.exception("answering failed")
        st.error(str(exc))
    except Exception:
        log.exception("answering failed")
        st.error("Something went wrong while answering. The details are in the log.")
    return None


def main() -> None:
    services = services_or_stop()
    filters, top_k = search_sidebar(services)
    st.title("Ask your documents")
    conversation: list[tuple[Turn, Answer]] = st.session_state.setdefault("conversation", [])
    for index, (turn, answer) in enumerate(conversation):
        with st.chat_message("user"):
            st.markdown(escape(turn.asked))
        with st.chat_message("assistant"):
            st.markdown(answer.text)
            render_answer(services, turn, answer, latest=index == len(conversation) - 1)

    question = st.chat_input("Ask a question about your documents")
    if not question:
        if not conversation:
            st.caption(
                "Add files on the Documents page (or drop them into the drop folder), "
                "then ask about them. Follow-up questions such as “and for children?” "
                "continue the conversation; “New conversation” starts afresh."
            )
        return
    turn = next_turn(question, conversation[-1][0] if conversation else None)
    with st.chat_message("user"):
        st.markdown(escape(turn.asked))
    with st.chat_message("assistant"):
        answered = ask(services, turn, filters, top_k)
        if answered is None:
            return
        conversation.append((turn, answered))
        # Drawn again from the conversation, so feedback and cards work the same for
        # the newest answer as for older ones.
        st.rerun()


main()
