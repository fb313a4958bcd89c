"""Quality (administrators only): how well the appliance finds and answers on this
site's own library.  Questions generated from the library, answers staff rated 4-5
stars and corrected low-rated answers are asked through the live pipeline in the
background; each run's figures, their trend, the cases that fail, the documents nobody
can find and the to-fix list of low-rated answers."""

from __future__ import annotations

import streamlit as st

from app_pages.shared import (
    attempt,
    done,
    flash,
    permitted,
    permitted_only,
    services_or_stop,
    show_flashes,
    stamp,
)
from rag_core.access.policy import Permission
from rag_core.quality import runs as quality_runs
from rag_core.quality.cases import ToFix
from rag_core.quality.runs import Comparison, Outcome, Run
from rag_core.services import Services

# Shown as metrics: (figure, label, as a percentage, what it means)
HEADLINE = (
    (
        "page@5",
        "Page in top 5",
        True,
        "Answerable cases whose right page was among the first 5 passages found.",
    ),
    (
        "file@5",
        "File in top 5",
        True,
        "Answerable cases whose right document was among the first 5.",
    ),
    ("mrr", "MRR", False, "Mean of 1 / the rank of the right page (0 when not in the first 10)."),
    (
        "abstention",
        "Abstained rightly",
        True,
        "Cases the library cannot answer that the appliance declined.",
    ),
    ("false_abstention", "Abstained wrongly", True, "Answerable cases the appliance declined."),
    (
        "verified",
        "Verified",
        True,
        "Written answers whose every sentence was found in the sources.",
    ),
    ("latency_p50_ms", "Answer time", False, "Median time to a complete answer, search included."),
)


def shown(key: str, value: float | None, percent: bool) -> str:
    if value is None:
        return "–"
    if key.startswith("latency"):
        return f"{value / 1000:.1f} s"
    return f"{value:.0%}" if percent else f"{value:.2f}"


def start(services: Services, kind: str, request: dict[str, object]) -> None:
    person = permitted(Permission.CHECK_QUALITY)
    services.runs.queue(kind, person.username, request)
    quality_runs.start_worker(services.settings.data_dir / "logs" / "quality.log")


def controls(services: Services) -> None:
    counts = services.cases.counts()
    st.caption(
        f"Cases: {counts['generated']} generated from the library "
        f"({counts['unanswerable']} it cannot answer), {counts['rated']} from answers rated "
        f"4–5 stars, {counts['fixed']} corrected from the to-fix list."
    )
    left, right = st.columns(2)
    with left.form("generate"):
        st.markdown("**Questions from the library**")
        wanted = st.number_input("Questions", min_value=10, max_value=500, value=100, step=10)
        replace = st.checkbox("Replace the generated set", value=False)
        request: dict[str, object] = {"questions": int(wanted), "replace": replace}
        if st.form_submit_button("Generate questions", icon=":material/quiz:") and done(
            lambda: start(services, "generate", request), "starting question generation"
        ):
            flash(
                "Generation started. The answer model writes about 6–10 questions a "
                "minute; staff questions go first.",
                "info",
            )
    with right.form("check"):
        st.markdown("**Check every case**")
        mode = st.selectbox(
            "Answers",
            ["extractive", "auto", "generative"],
            help="extractive: quotes only, fast (about a second a case); auto or "
            "generative: the answer model writes too (several seconds a case), so the "
            "verified share is measured.",
        )
        if st.form_submit_button("Run the check", icon=":material/play_arrow:") and done(
            lambda: start(services, "check", {"mode": mode}), "starting the check"
        ):
            flash("The check started; its progress shows above.", "info")


@st.fragment(run_every=3)
def progress(services: Services) -> None:
    pending = services.runs.pending()
    for run in pending:
        what = "Generating questions" if run.kind == "generate" else "Checking the cases"
        if run.state == "queued":
            st.info(f"{what} (run {run.id}): waiting for the worker to start.")
            continue
        eta = run.eta_seconds()
        left = "" if eta is None else f" · about {max(1, round(eta / 60))} min left"
        st.progress(
            run.done / run.total if run.total else 0.0,
            text=f"{what} (run {run.id}): {run.done} of {run.total}{left}",
        )
    if st.session_state.get("quality_pending") and not pending:
        st.session_state["quality_pending"] = False
        st.rerun(scope="app")  # a run ended: show its figures
    st.session_state["quality_pending"] = bool(pending)


def first_check_text(services: Services) -> str:
    """What the page says before any check has ended: what to do next, or that the
    first check is under way."""
    if any(r.kind == "check" for r in services.runs.pending()):
        return "The first check is under way: its figures come here when it ends."
    if not services.cases.active():
        return "No check has run yet. Generate questions, then run the check."
    return "No check has run yet: run the check to measure the cases above."


def headline(run: Run, before: Run | None) -> None:
    st.subheader(f"Latest check: run {run.id}, {stamp(run.finished_at or run.created_at)}")
    # Finding first, then answering: four to a row, so no label is cut short.
    per_row = 4
    columns = [
        column
        for start in range(0, len(HEADLINE), per_row)
        for column in st.columns(per_row)[: len(HEADLINE) - start]
    ]
    for column, (key, label, percent, meaning) in zip(columns, HEADLINE, strict=True):
        value = run.figures.get(key)
        delta = None
        if before is not None and value is not None and before.figures.get(key) is not None:
            delta = shown(key, value - before.figures[key], percent)
            if not any(c in "123456789" for c in delta):  # rounds to nothing
                delta = None
        column.metric(
            label,
            shown(key, value, percent),
            delta,
            delta_color="inverse" if key in quality_runs.LOWER_IS_BETTER else "normal",
            help=meaning,
        )
    f = run.figures
    st.caption(
        f"{f.get('cases', 0)} cases ({f.get('answerable', 0)} the library answers, "
        f"{f.get('unanswerable', 0)} it cannot), {f.get('passed', 0)} passed · answers: "
        f"{run.settings.get('answer_mode', '?')} · model "
        f"{run.settings.get('answer_model_file', '?')}"
    )


def trend(checks: list[Run]) -> None:
    done = [r for r in reversed(checks) if r.state == "done"]
    if len(done) < 2:
        return
    st.subheader("Over time")
    st.line_chart(
        {
            "run": [f"{r.id}" for r in done],
            "page@5": [r.figures.get("page@5") for r in done],
            "file@5": [r.figures.get("file@5") for r in done],
            "abstention": [r.figures.get("abstention") for r in done],
        },
        x="run",
        y=["page@5", "file@5", "abstention"],
    )


def changes(comparison: Comparison) -> None:
    st.info(comparison.summary())
    if comparison.settings_changed:
        st.dataframe(
            [
                {"Setting": key, "Before": str(a), "Now": str(b)}
                for key, (a, b) in comparison.settings_changed.items()
            ],
            hide_index=True,
            width="stretch",
        )


def failing(outcomes: list[Outcome]) -> None:
    fails = [o for o in outcomes if not o.passed]
    st.subheader(f"Failing cases ({len(fails)})")
    if not fails:
        st.success("Every case passed.")
        return
    st.dataframe(
        [
            {
                "Question": o.case.question,
                "From": o.case.origin,
                "Should find": "; ".join(e.label for e in o.case.expected)
                if o.case.answerable
                else "(an abstention: the library cannot answer it)",
                "Found instead": "; ".join(f.label for f in o.found[:3]) or "(nothing)",
                "Rank of the right page": o.page_rank or "–",
                "Abstained": "yes" if o.abstained else "no",
            }
            for o in fails
        ],
        hide_index=True,
        width="stretch",
    )


def hard_documents(services: Services, run: Run) -> None:
    hard = services.runs.hard_documents(run.id)
    if not hard.rows:
        return
    st.subheader("Documents nobody can find")
    st.caption(
        "Documents whose generated questions fail more often than the library's "
        f"({hard.library_share:.0%} of {hard.questions} failed in this check): often "
        "scans, odd layouts or tables. Re-index them, check their text on the Documents "
        "page, or give them a better title."
    )
    st.dataframe(
        [
            {"Document": title, "File": source, "Questions": cases, "Failed": failed}
            for title, source, cases, failed in hard.rows
        ],
        hide_index=True,
        width="stretch",
    )


def review(services: Services, item: ToFix, documents: dict[str, int]) -> None:
    with st.expander(f"{'★' * item.rating} {item.question}"):
        st.markdown(f"**Note:** {item.note}")
        st.caption(
            f"Asked {stamp(item.asked_at)} by {item.asked_by or 'unknown'} · shown: "
            + ("; ".join(e.label for e in item.shown) or "nothing")
        )
        with st.form(f"fix-{item.query_log_id}"):
            title = st.selectbox("The answer is in", list(documents), index=None)
            page = st.number_input("on page (0: anywhere in it)", min_value=0, value=0)
            make, cannot, dismiss = st.columns(3)
            by = permitted(Permission.CHECK_QUALITY).username
            if make.form_submit_button("Make it a case"):
                if title is None:
                    st.error("Choose the document the answer is in.")
                elif attempt(
                    lambda: services.cases.fix(
                        item.query_log_id, by, document_id=documents[title], page=page or None
                    ),
                    "making a case",
                ):
                    flash("It is a case now: every check asks it.")
            if cannot.form_submit_button("The library cannot answer it") and done(
                lambda: services.cases.fix(item.query_log_id, by), "making a case"
            ):
                flash("It is a case now: the check expects an abstention.")
            if dismiss.form_submit_button("Dismiss") and done(
                lambda: services.cases.dismiss(item.query_log_id, by), "dismissing"
            ):
                flash("Taken off the list.")


def to_fix(services: Services) -> None:
    items = services.cases.to_fix()
    st.subheader(f"To fix ({len(items)})")
    if not items:
        st.caption("Answers rated 1–2 stars with a note come here.")
        return
    documents = {
        f"{d.title} ({d.source})": d.id
        for d in services.catalog.documents(status="ready")
        if d.id is not None
    }
    for item in items:
        review(services, item, documents)


def main() -> None:
    services = services_or_stop()
    permitted_only(Permission.CHECK_QUALITY)
    st.title("Quality")
    st.caption(
        "How well the appliance finds the right page and answers on this library, measured "
        "on questions generated from it and on answers staff rated. Runs go in the "
        "background; staff questions go first."
    )
    show_flashes()
    progress(services)
    controls(services)
    checks = services.runs.recent("check")
    latest = next((r for r in checks if r.state == "done"), None)
    failed = next((r for r in checks if r.state == "failed"), None)
    if failed is not None and (latest is None or failed.id > latest.id):
        st.warning(f"Run {failed.id} did not finish: {failed.message}")
    if latest is None:
        st.info(first_check_text(services))
    else:
        before = services.runs.previous(latest)
        headline(latest, before)
        if before is not None:
            changes(services.runs.compare(before.id, latest.id))
        trend(checks)
        failing(services.runs.outcomes(latest.id))
        hard_documents(services, latest)
    to_fix(services)


main()
