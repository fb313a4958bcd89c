"""History: past questions with their answers, sources, latency and feedback; search,
filter, similar past questions, and CSV export."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import streamlit as st

from app_pages.shared import (
    date_range,
    escape,
    pick_page,
    services_or_stop,
    show_similar,
    stamp,
    user,
)
from rag_core.access import policy
from rag_core.access.audit import Action
from rag_core.library.history import FEEDBACK_FILTERS, OUTCOMES, HistoryQuery, LoggedAnswer
from rag_core.services import Services

PAGE_SIZE = 50
FEEDBACK_LABELS = {"rated": "Rated", "unrated": "Not rated", "low": "1–2 stars"}


def filters_row() -> HistoryQuery:
    search, when, outcome, feedback = st.columns([3, 2, 1, 1])
    since, until = date_range(when.date_input("Asked between", value=[], format="YYYY-MM-DD"))
    return HistoryQuery(
        search=search.text_input("Search", placeholder="Words in the question or answer"),
        since=since,
        until=until,
        outcome=outcome.selectbox("Outcome", OUTCOMES, index=None, placeholder="All"),
        feedback=feedback.selectbox(
            "Feedback",
            FEEDBACK_FILTERS,
            index=None,
            format_func=FEEDBACK_LABELS.__getitem__,
            placeholder="All",
        ),
        limit=PAGE_SIZE,
    )


def table(entries: list[LoggedAnswer]) -> None:
    st.dataframe(
        [
            {
                "Asked": stamp(entry.asked_at),
                "Question": entry.question,
                "Answer": (entry.answer or "")[:200],
                "Outcome": "abstained" if entry.abstained else "answered",
                "Sources": len(entry.sources),
                "Latency (s)": round(entry.latency_ms / 1000, 2) if entry.latency_ms else None,
                "Top score": round(entry.top_score, 2) if entry.top_score is not None else None,
                "Feedback": "★" * entry.feedback if entry.feedback else "",
            }
            for entry in entries
        ],
        hide_index=True,
        width="stretch",
    )


def details(services: Services, entries: list[LoggedAnswer]) -> None:
    entry = st.selectbox(
        "Question to look at",
        entries,
        index=None,
        format_func=lambda e: f"{stamp(e.asked_at)} · {e.question[:80]}",
        placeholder="Pick a question from this page",
    )
    if entry is None:
        return
    with st.container(border=True):
        st.markdown(f"**{escape(entry.question)}**")
        st.caption(
            f"{stamp(entry.asked_at)} · "
            + (f"{entry.latency_ms / 1000:.1f} s · " if entry.latency_ms else "")
            + ("abstained" if entry.abstained else "answered")
            + (f" · asked by {entry.user_name}" if entry.user_name else "")
        )
        st.markdown(entry.answer or "")
        for source in entry.sources:
            st.markdown(f"[{source.number}] {escape(source.label)} — relevance {source.score:.2f}")
        if entry.feedback:
            comment = f": “{escape(entry.feedback_comment)}”" if entry.feedback_comment else ""
            st.markdown(f"Feedback: {'★' * entry.feedback}{'☆' * (5 - entry.feedback)}{comment}")
        elif entry.feedback_comment:
            st.markdown(f"Comment: “{escape(entry.feedback_comment)}”")
    similar = services.history.similar_to(
        entry.id,
        min_similarity=services.settings.similar_question_floor,
        asked_by=query_owner(),
    )
    show_similar(similar)


def query_owner() -> str | None:
    """Staff see their own questions; administrators everyone's (`rag_core.access.policy`)."""
    return policy.history_owner(user())


def exported(services: Services, query: HistoryQuery) -> str:
    services.audit.record(
        user().username, Action.HISTORY_EXPORT, {"search": query.search, "asked_by": query_owner()}
    )
    return services.history.export_csv(query)


def main() -> None:
    services = services_or_stop()
    st.title("History")
    query = replace(filters_row(), asked_by=query_owner())
    total = services.history.find(replace(query, limit=0)).total
    left, right = st.columns([1, 3])
    page = pick_page(total, PAGE_SIZE, left)
    listing = services.history.find(replace(query, offset=page.offset))
    right.download_button(
        "Export to CSV",
        data=lambda: exported(services, query),
        file_name=f"question-history-{datetime.now():%Y%m%d-%H%M}.csv",
        mime="text/csv",
        help="Every question matching the filters, all pages.",
    )
    st.caption(f"{listing.total:,} question(s) · {page.label}")
    if not listing.entries:
        st.info("No questions match. Questions asked on the Chat page appear here.")
        return
    table(listing.entries)
    details(services, listing.entries)


main()
