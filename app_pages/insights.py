"""Insights: questions per day, answer latency, retrieval scores, abstention,
feedback, and why files failed."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import streamlit as st

from app_pages.shared import services_or_stop
from rag_core.library.insights import SCORE_BUCKET, Insights

PERIODS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Last year": 365}


def seconds(milliseconds: float | None) -> str:
    return "–" if milliseconds is None else f"{milliseconds / 1000:.1f} s"


def headline(figures: Insights) -> None:
    questions, abstained, verified, p50, p95, feedback, failed = st.columns(7)
    questions.metric("Questions", f"{figures.questions:,}")
    rate = figures.abstention_rate
    abstained.metric("Abstained", "–" if rate is None else f"{rate:.0%}")
    share = figures.verified_rate
    verified.metric(
        "Verified",
        "–" if share is None else f"{share:.0%}",
        help="Answers in which every sentence the model wrote was found in the sources "
        f"({figures.verified_answers} of {figures.written_answers}); sentences that were "
        "not are never shown as fact.",
    )
    p50.metric("Answer time, median", seconds(figures.latency_p50_ms))
    p95.metric("Answer time, p95", seconds(figures.latency_p95_ms))
    mean = figures.mean_feedback
    feedback.metric("Mean rating", "–" if mean is None else f"{mean:.1f} ★")
    failed.metric("Files failing now", figures.failed_files)


def charts(figures: Insights) -> None:
    days = [d.day.isoformat() for d in figures.days]
    left, right = st.columns(2)
    with left:
        st.subheader("Questions per day")
        st.bar_chart(
            {
                "day": days,
                "answered": [d.questions - d.abstained for d in figures.days],
                "abstained": [d.abstained for d in figures.days],
            },
            x="day",
            y=["answered", "abstained"],
        )
        st.subheader("Retrieval score of the best passage")
        st.bar_chart(
            {
                "score": [f"{low:.1f}–{low + SCORE_BUCKET:.1f}" for low, _ in figures.top_scores],
                "questions": [count for _, count in figures.top_scores],
            },
            x="score",
            y="questions",
        )
    with right:
        st.subheader("Answer time (seconds)")
        st.line_chart(
            {
                "day": days,
                "p50": [(d.latency_p50_ms or 0) / 1000 for d in figures.days],
                "p95": [(d.latency_p95_ms or 0) / 1000 for d in figures.days],
            },
            x="day",
            y=["p50", "p95"],
        )
        st.subheader("Feedback")
        st.bar_chart(
            {
                "stars": [f"{stars} ★" for stars in range(1, 6)],
                "answers": [figures.feedback.get(stars, 0) for stars in range(1, 6)],
            },
            x="stars",
            y="answers",
        )


def failures(figures: Insights) -> None:
    st.subheader("Ingestion failures")
    if not figures.failure_reasons:
        st.success("No file is failing.")
        return
    st.dataframe(
        [{"Reason": reason, "Files": count} for reason, count in figures.failure_reasons],
        hide_index=True,
        width="stretch",
    )
    st.caption("Each failed file, with a Retry button, is on the Documents page.")


def main() -> None:
    services = services_or_stop()
    st.title("Insights")
    period = st.selectbox("Period", list(PERIODS), index=1)
    today = datetime.combine(datetime.now().date(), time.min).astimezone()
    figures = services.insights(since=today - timedelta(days=PERIODS[period] - 1))
    headline(figures)
    if figures.questions:
        charts(figures)
    else:
        st.info("No questions asked in this period yet.")
    failures(figures)


main()
