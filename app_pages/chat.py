"""Chat: a conversation per browser session.  Follow-ups are made stand-alone before
retrieval; each answer shows its quoted evidence at once, then any sentence the model
wrote that verified, then its numbered sources as cards with the evidence highlighted,
the PDF page as an image with the evidence marked on it, and takes feedback."""

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
from rag_core.access import policy
from rag_core.answers.chat import Answer, searched_with
from rag_core.answers.conversation import Turn, next_turn
from rag_core.answers.evidence import Evidence
from rag_core.answers.highlight import highlight
from rag_core.answers.prompting import source_label
from rag_core.errors import QuestionRejected, RagError
from rag_core.search.hits import Filters, Hit
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


RECOGNISED_NOTE = "Text recognised from a scanned page — check the page."


def highlighted(text: str, question: str) -> str:
    return "".join(
        f":orange-background[{escape(s.text)}]" if s.match else escape(s.text)
        for s in highlight(" ".join(text.split()), question)
    )


def with_evidence(text: str, evidence: list[Evidence]) -> str:
    """The passage with its evidence sentences marked (by their spans in it)."""
    parts: list[str] = []
    position = 0
    for item in sorted(evidence, key=lambda e: e.sentence.start):
        start, end = item.sentence.start, item.sentence.end
        if start < position or text[start:end] != item.sentence.text:
            continue  # the passage changed since: mark nothing rather than the wrong words
        parts.append(escape(" ".join(text[position:start].split())))
        parts.append(f" :orange-background[{escape(item.sentence.flat)}] ")
        position = end
    parts.append(escape(" ".join(text[position:].split())))
    return "".join(parts).strip()


@st.cache_data(ttl=3600, max_entries=64, show_spinner="Drawing the page…")
def page_image(
    _services: Services, document_id: int, page: int, sentences: tuple[str, ...]
) -> tuple[str, int] | None:
    image = _services.page_image(document_id, page, sentences)
    return None if image is None else (str(image.path), image.found)


def render_sources(services: Services, turn: Turn, answer: Answer) -> None:
    if not answer.sources:
        return
    if answer.abstained:
        if answer.words_may_answer:  # found close to the model's words
            st.markdown(f"**Nearest passages ({len(answer.sources)})**, not vouched for")
        else:
            st.markdown(f"**Nearest passages ({len(answer.sources)})**, none of which answers it")
    else:
        st.markdown(f"**Sources ({len(answer.sources)})**")
    tabs = st.tabs([f"[{n}] {hit.title[:28]}" for n, hit in enumerate(answer.sources, start=1)])
    for number, (tab, hit) in enumerate(zip(tabs, answer.sources, strict=True), start=1):
        with tab:
            evidence = (
                [] if answer.abstained else [e for e in answer.evidence if e.source == number]
            )
            render_card(
                services, turn, number, hit, cited=number in answer.cited, evidence=evidence
            )


def render_card(
    services: Services,
    turn: Turn,
    number: int,
    hit: Hit,
    *,
    cited: bool,
    evidence: list[Evidence],
) -> None:
    with st.container(border=True):
        status = "cited in the answer" if cited else "not cited"
        st.markdown(f"**[{number}] {escape(source_label(hit))}**")
        if hit.section:
            st.caption(f"Section: {escape(hit.section)}")
        st.caption(f"Relevance {hit.score:.2f} · {status} · `{hit.source}`")
        message = services.catalog.attached_to(hit.document_id)
        if message:
            st.caption(f"Attached to the e-mail “{escape(message)}”")
        if hit.page in services.catalog.recognised_pages(hit.document_id):
            st.warning(RECOGNISED_NOTE, icon=":material/document_scanner:")
        if evidence:
            st.markdown(with_evidence(hit.text, evidence))
        else:
            st.markdown(highlighted(hit.text, turn.standalone))
        if hit.page is not None and hit.source.lower().endswith(".pdf"):
            key = f"page-image:{turn.standalone}:{number}:{hit.chunk_id}"
            if st.toggle("Show the page", key=key, help="The PDF page, evidence marked"):
                render_page_image(services, hit, evidence)
        label = f"Whole page {hit.page} as text" if hit.page is not None else "Whole text"
        with st.expander(label):
            st.text(page_text(services, hit.document_id, hit.page))


def render_page_image(services: Services, hit: Hit, evidence: list[Evidence]) -> None:
    assert hit.page is not None
    sentences = tuple(e.text for e in evidence)
    drawn = attempt(
        lambda: page_image(services, hit.document_id, hit.page or 1, sentences),
        "drawing the page",
    )
    if drawn is None:
        st.caption("The page cannot be shown: its file is no longer in the drop folder.")
        return
    path, found = drawn
    if sentences and found < len(sentences):
        caption = f"Page {hit.page}. The evidence could not be located on the image; see the text."
    elif sentences:
        caption = f"Page {hit.page} around the evidence, marked in yellow."
    else:
        caption = f"Page {hit.page}."
    st.image(path, caption=caption, width=720)


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
    """Staff see their own past questions; administrators everyone's (`rag_core.access.policy`)."""
    return policy.history_owner(user())


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


def render_checks(answer: Answer) -> None:
    """What the model wrote that was not shown, and why: nothing unverified is shown as
    fact, but staff can see that it was left out."""
    if answer.abstained:
        return
    left_out = [v for v in answer.verdicts if not v.verified]
    if answer.figure and answer.figure["shown"]:
        st.caption(
            "The figure was computed by the appliance, not by a model, from the table rows "
            "quoted under it; each row's page is among the sources."
        )
    elif answer.verdicts:
        written = len(answer.verdicts)
        st.caption(
            f"The answer model ({answer.model}) wrote {written} "
            f"sentence{'' if written == 1 else 's'}; {answer.sentences_verified} verified "
            "against the sources and cited by the code."
        )
    else:
        st.caption("Quoted from the documents, word for word.")
    if left_out:
        with st.expander("Left out: not found in the sources"):
            for verdict in left_out:
                st.markdown(f"~~{escape(verdict.text)}~~ — {escape(verdict.reason)}")


def render_searched(turn: Turn, words: str | None) -> None:
    """What was searched for, when it was more than the words asked; `words`: the answer
    model's, for a weak question."""
    if turn.rewritten:
        st.caption(f"Searched for: {escape(turn.standalone)}")
    if words:
        # Said as search words, unchecked: they read like an answer and may be invented
        # ("use `options(keep.data = FALSE)`" for R's --no-save).
        st.caption(
            "No passage was close to your words, so words the answer model wrote for the "
            "question were searched for too. They are not checked against the documents "
            f"and may be wrong: “{escape(words)}”"
        )


def render_answer(services: Services, turn: Turn, answer: Answer, *, latest: bool) -> None:
    render_searched(turn, answer.searched_with)
    render_checks(answer)
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
        render_searched(turn, searched_with(stream.sources))
        st.write_stream(escape(piece) for piece in stream)
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
            st.markdown(escape(answer.text))
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
    turn = next_turn(question, conversation[-1][0] if conversation else None, services.rewrite)
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
