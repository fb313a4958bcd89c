"""The site's own quality check, run through the live pipeline (`rag_core.quality`).

    python -m rag_core.eval site generate [--questions 100] [--unanswerable 0.2] [--replace]
    python -m rag_core.eval site check [--mode extractive|generative|auto]
    python -m rag_core.eval site runs | compare [A B] | export FILE | work

`generate` has the answer model write questions from passages of the library (kept only
when the code can check them); `check` asks every active case (generated questions,
answers staff rated 4-5 stars, corrected low-rated answers) and stores file@5, page@5,
MRR, abstention on the unanswerable ones, false abstention, the verified share and the
answer time, with the settings and models it ran under.  Both are queued like the
Quality page's buttons and worked here in the foreground, with progress and an ETA; a
worker already busy (the page's) is waited for.  `compare` sets two checks side by side
(default: the last two).  `export` writes the cases as a `questions.jsonl` for
`eval library --questions`.  `work` works whatever is queued (the page starts it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rag_core.access.audit import command_line_user
from rag_core.answers.chat import AnswerMode
from rag_core.errors import ModelNotFound, QuestionRejected, RagError
from rag_core.quality.cases import Case, Cases, Expected
from rag_core.quality.runs import (
    FIGURES,
    QUIET_SECONDS,
    Outcome,
    Run,
    Runs,
    RunStopped,
    figures,
    ranks,
    worker_lock,
)
from rag_core.search.hits import Hit
from rag_core.services import Services
from rag_core.settings import Settings

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 120.0  # a case waits for staff at most this long, or a busy site starves the run
FOUND_KEPT = 10  # passages kept per result (ranks up to 10 count for the MRR)
_SETTINGS_RECORDED = (
    "answer_mode",
    "answer_model",
    "embedding_backend",
    "top_k",
    "relevance_floor",
    "evidence_floor",
    "evidence_sentences",
    "refusal_abstains_at",
    "abstain_on_missing_terms",
    "candidates",
    "rrf_k",
    "rrf_vector_weight",
    "rrf_text_weight",
    "text_ranking",
    "title_weight",
    "chunk_tokens",
    "chunk_overlap_tokens",
    "hnsw_ef_search",
    "vector_index",
)


# The library a run searched: its size, and which contents, in 12 characters (equal
# means the same documents; a re-index that changes nothing keeps it).
_LIBRARY = sa.text("""
    SELECT count(*) AS documents,
           (SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE d.is_active) AS passages,
           left(md5(string_agg(content_hash, ',' ORDER BY content_hash)), 12) AS contents
    FROM documents WHERE is_active
""")


def snapshot(services: Services, mode: str) -> dict[str, Any]:
    """What a run ran under: the settings that change answers, the models, the
    pipeline's versions and the library's size and last change."""
    from rag_core.figures.rows import ROWS_VERSION
    from rag_core.ingestion.ingest import PIPELINE_VERSION

    settings = services.settings
    recorded = settings.model_dump(mode="json", include=set(_SETTINGS_RECORDED))
    recorded["answer_mode"] = mode
    recorded["answer_model_file"] = services.generator.model_path.name
    recorded["embedding_model"] = "/".join(services.embedder.model_path.parts[-2:])
    recorded["pipeline_version"] = PIPELINE_VERSION
    recorded["rows_version"] = ROWS_VERSION
    with services.db.session() as session:
        documents, passages, contents = session.execute(_LIBRARY).one()
    recorded["library"] = {
        "documents": int(documents or 0),
        "passages": int(passages or 0),
        "contents": contents,
    }
    return recorded


Report = Callable[[Run], None]


def work(
    services: Services,
    *,
    report: Report = lambda run: None,
    waiting: Callable[[], None] = lambda: None,
    quiet_seconds: float = QUIET_SECONDS,
) -> list[int]:
    """Work every pending run, oldest first, until none is left; returns their ids.
    A run left 'running' by a worker that died is resumed where it stopped."""
    runs, cases = services.runs, services.cases
    worked: list[int] = []
    with worker_lock(services.db, waiting):
        while pending := [r for r in runs.pending() if r.id not in worked]:
            run = pending[0]
            worked.append(run.id)
            try:
                if run.kind == "generate":
                    _generate(services, runs, cases, run, report, quiet_seconds)
                else:
                    _check(services, runs, cases, run, report, quiet_seconds)
            except RunStopped as exc:
                runs.end(run.id, "failed", str(exc))
            except RagError as exc:
                log.error("quality run %s stopped: %s", run.id, exc)
                runs.end(run.id, "failed", f"The run stopped: {exc}")
            finally:
                _report(runs, run.id, report)
    return worked


def _report(runs: Runs, run_id: int, report: Report) -> None:
    """`report` the run as it stands now."""
    latest = runs.get(run_id)
    if latest is not None:
        report(latest)


def _model_missing(services: Services) -> str | None:
    path = services.generator.model_path
    return None if path.is_file() else str(path)


def _generate(
    services: Services, runs: Runs, cases: Cases, run: Run, report: Report, quiet_seconds: float
) -> None:
    from rag_core.quality.questions import document_spans, generate

    missing = _model_missing(services)
    if missing:
        raise RunStopped(
            f"Generating questions needs the answer model, and {missing} is missing "
            "(`make models` fetches it). The staff cases can be checked without it."
        )
    if not document_spans(services.db):
        raise RunStopped(
            "The library has no passages to ask about yet: add documents (or wait until "
            "they are read), then generate questions."
        )
    wanted = int(run.request.get("questions", 100))
    share = float(run.request.get("unanswerable_share", 0.2))
    if run.request.get("replace") and run.state == "queued":
        cases.retire_generated()
    made = cases.generated_in(run.id)
    runs.start(run.id, wanted, snapshot(services, services.settings.answer_mode), run.request)
    stored = [0, 0]  # kept, unanswerable already stored

    def progress(result: Any) -> None:
        cases.add_generated(result.kept[stored[0] :], result.unanswerable[stored[1] :], run.id)
        stored[0], stored[1] = len(result.kept), len(result.unanswerable)
        runs.progress(run.id, made + stored[0])
        _report(runs, run.id, report)
        _give_way(runs, quiet_seconds)  # the model is the staff's first

    result = generate(
        services.db,
        services.generator,
        wanted - made,
        unanswerable_share=share,
        seed=run.id * 1000 + made,  # a resumed run reads other passages
        known=cases.generated_questions(),
        progress=progress,
        give_way=lambda: _give_way(runs, quiet_seconds),
    )
    summary = {
        "kept": made + len(result.kept),
        "unanswerable": len(result.unanswerable),
        "tried": result.tried,
        "dropped": dict(result.dropped),
    }
    note = None
    if made + len(result.kept) < wanted:
        note = (
            f"The library gave {made + len(result.kept)} checkable questions of the "
            f"{wanted} asked for (passages tried: {result.tried})."
        )
    runs.end(run.id, "done", note, summary)


def _check(
    services: Services,
    runs: Runs,
    cases: Cases,
    run: Run,
    report: Report,
    quiet_seconds: float,
) -> None:
    request = dict(run.request)
    mode = str(request.get("mode") or services.settings.answer_mode)
    if mode != AnswerMode.EXTRACTIVE.value and _model_missing(services):
        mode = AnswerMode.EXTRACTIVE.value  # quoted answers still show abstention
    if "case_ids" not in request:
        request["case_ids"] = [c.id for c in cases.active()]
    todo = cases.with_ids(request["case_ids"])
    if not todo:
        runs.end(
            run.id,
            "failed",
            "There are no cases to check yet: generate questions from the library, or rate "
            "answers in the chat (4-5 stars make a case).",
        )
        return
    runs.start(run.id, len(todo), snapshot(services, mode), request)
    done = runs.done_cases(run.id)
    for case in todo:
        if case.id in done:
            continue
        while True:
            _give_way(runs, quiet_seconds)
            gave_way = _gave_way(services)
            outcome = ask(services, case, AnswerMode(mode))
            if _gave_way(services) == gave_way:
                break
            # A person's question stopped the model mid-answer: asked again after it.
        runs.store(run.id, outcome)
        done.add(case.id)
        runs.progress(run.id, len(done))
        _report(runs, run.id, report)
    runs.end(run.id, "done", None, figures(runs.outcomes(run.id)))


def _gave_way(services: Services) -> int:
    """How often the worker's answers have stopped for a person's (`client.GaveWay`)."""
    return int(getattr(services.generator, "gave_way", 0))


def _give_way(runs: Runs, quiet_seconds: float) -> None:
    """Wait while staff are asking (at most MAX_WAIT_SECONDS)."""
    if quiet_seconds <= 0:
        return
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while runs.staff_asking(quiet_seconds) and time.monotonic() < deadline:
        time.sleep(1.0)


def _found(hit: Hit) -> Expected:
    return Expected(hit.source, hit.title, hit.page, hit.page_end)


def ask(services: Services, case: Case, mode: AnswerMode) -> Outcome:
    """One case through the live pipeline: the search's ranking, then the answer, which
    goes to no history and no audit record (a check is not a person asking)."""
    started = time.perf_counter()
    try:
        hits = services.retriever.search(case.question, top_k=FOUND_KEPT)
        answer = services.chat.ask(case.question, mode=mode, record=False).complete()
    except QuestionRejected:
        hits, answer = [], None
    except ModelNotFound:  # removed while the run was going: quoted answers
        answer = services.chat.ask(
            case.question, mode=AnswerMode.EXTRACTIVE, record=False
        ).complete()
    latency_ms = (time.perf_counter() - started) * 1000
    found = tuple(_found(h) for h in hits)
    file_rank, page_rank = ranks(found, case.expected)
    return Outcome(
        case,
        found,
        file_rank,
        page_rank,
        answer.abstained if answer else True,
        len(answer.verdicts) if answer else 0,
        answer.sentences_verified if answer else 0,
        latency_ms,
    )


# --- the command line ---------------------------------------------------------------------


def _line(run: Run) -> str:
    what = "generation" if run.kind == "generate" else "check"
    if run.state == "running" and run.total:
        eta = run.eta_seconds()
        left = (
            f", about {eta / 60:.0f} min left"
            if eta is not None and eta >= 60
            else (f", about {eta:.0f} s left" if eta is not None else "")
        )
        return f"run {run.id} ({what}): {run.done} of {run.total}{left}"
    return f"run {run.id} ({what}): {run.state}" + (f" – {run.message}" if run.message else "")


def _figure(value: Any) -> str:
    if value is None:
        return "–"
    return (
        f"{value:.0f}"
        if isinstance(value, float) and value > 10
        else (f"{value:.3f}" if isinstance(value, float) else str(value))
    )


def figures_table(run: Run) -> str:
    f = run.figures
    lines = [
        f"run {run.id}: {f.get('cases', 0)} cases ({f.get('answerable', 0)} answerable, "
        f"{f.get('unanswerable', 0)} not), {f.get('passed', 0)} passed"
    ]
    lines += [f"  {key:<18}{_figure(f.get(key)):>10}" for key in FIGURES]
    for origin in ("generated", "rated", "fixed"):
        if f.get(f"page@5 {origin}") is not None:
            lines.append(f"  {'page@5 ' + origin:<18}{_figure(f.get(f'page@5 {origin}')):>10}")
    return "\n".join(lines)


def comparison_text(services: Services, before: int, after: int) -> str:
    comparison = services.runs.compare(before, after)
    lines = [comparison.summary(), f"{'':<18}{'run ' + str(before):>10}{'run ' + str(after):>10}"]
    for key, (a, b) in comparison.figures.items():
        lines.append(f"  {key:<16}{_figure(a):>10}{_figure(b):>10}")
    for key, (a, b) in comparison.settings_changed.items():
        lines.append(f"  setting {key}: {a} → {b}")
    for outcome in comparison.now_failing:
        lines.append(f"  now fails: {outcome.case.question}")
    for outcome in comparison.now_passing:
        lines.append(f"  now passes: {outcome.case.question}")
    return "\n".join(lines)


def export(services: Services, path: Path) -> int:
    """The active answerable cases as `questions.jsonl` lines (for `eval library`)."""
    lines = []
    for case in services.cases.active():
        if not case.answerable:
            continue
        lines.append(
            json.dumps(
                {
                    "id": f"case-{case.id}",
                    "question": case.question,
                    "answer": case.answer,
                    "question_type": case.origin,
                    "evidence": [
                        {"file": Path(e.source).name, "page": e.page} for e in case.expected
                    ],
                }
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.eval site",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--database", help="an evaluation database of `eval library` (default: the library)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="questions from the library, by the answer model")
    gen.add_argument("--questions", type=int, default=100, help="answerable questions wanted")
    gen.add_argument(
        "--unanswerable",
        type=float,
        default=0.2,
        help="questions the library cannot answer, as a share of the answerable ones",
    )
    gen.add_argument("--replace", action="store_true", help="retire the generated set first")
    gen.add_argument("--json", type=Path, help="also write the generation's counts here")
    check = commands.add_parser("check", help="ask every active case; store the figures")
    check.add_argument(
        "--mode",
        choices=[m.value for m in AnswerMode],
        help="how answers are made (default: the site's RAG_ANSWER_MODE)",
    )
    check.add_argument("--json", type=Path, help="also write the run's figures and results here")
    commands.add_parser("runs", help="the checks so far, newest first")
    compare = commands.add_parser("compare", help="two checks side by side (default: last two)")
    compare.add_argument("runs", nargs="*", type=int)
    out = commands.add_parser("export", help="the cases as questions.jsonl")
    out.add_argument("file", type=Path)
    worker = commands.add_parser("work", help="work the queued runs (the Quality page starts it)")
    worker.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    from rag_core.access.phi_logs import configure_logging
    from rag_core.eval.sides import side_settings
    from rag_core.services import build_services

    settings = Settings()
    configure_logging(settings)
    if args.database:
        settings = side_settings(settings, args.database)
    services = build_services(settings)
    try:
        return _command(services, args)
    except QuestionRejected as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        services.close()


def _command(services: Services, args: argparse.Namespace) -> int:
    runs = services.runs
    if args.command == "runs":
        for run in runs.recent("check") + runs.recent("generate"):
            when = run.created_at.strftime("%Y-%m-%d %H:%M")
            page = run.figures.get("page@5")
            extra = f"  page@5 {page:.3f}" if isinstance(page, float) else ""
            print(f"{when}  {_line(run)}{extra}")
        return 0
    if args.command == "compare":
        ids = args.runs or [r.id for r in runs.recent("check") if r.state == "done"][:2][::-1]
        if len(ids) != 2:
            print("Two finished checks are needed to compare.", file=sys.stderr)
            return 2
        print(comparison_text(services, ids[0], ids[1]))
        return 0
    if args.command == "export":
        count = export(services, args.file)
        print(f"{count} cases written to {args.file}")
        return 0
    report = (lambda run: None) if getattr(args, "quiet", False) else _reporter()
    os.nice(10)  # staff questions first
    if hasattr(services.generator, "background"):
        services.generator.background = True  # its answers stop for a person's
    if args.command == "work":
        work(services, report=report, waiting=_waiting)
        return 0
    return _queue_and_work(services, args, report)


def _waiting() -> None:
    print("waiting for the run in progress to end", file=sys.stderr)


def _queue_and_work(services: Services, args: argparse.Namespace, report: Report) -> int:
    """`generate` or `check`: queued, worked here, its figures printed."""
    runs = services.runs
    user = command_line_user()
    if args.command == "generate":
        request: dict[str, Any] = {
            "questions": args.questions,
            "unanswerable_share": args.unanswerable,
            "replace": args.replace,
        }
        run_id = runs.queue("generate", user, request)
    else:
        run_id = runs.queue("check", user, {"mode": args.mode} if args.mode else {})
    work(services, report=report, waiting=_waiting)
    run = runs.get(run_id)
    assert run is not None
    print(file=sys.stderr)
    if run.state != "done":
        print(run.message or f"run {run.id} did not finish", file=sys.stderr)
        return 1
    if run.kind == "generate":
        f = run.figures
        print(
            f"run {run.id}: {f.get('kept', 0)} questions kept, {f.get('unanswerable', 0)} "
            f"unanswerable made, {f.get('tried', 0)} passages tried; dropped: "
            + (", ".join(f"{k} {v}" for k, v in sorted(f.get("dropped", {}).items())) or "none")
        )
        if run.message:
            print(run.message)
    else:
        print(figures_table(run))
        previous = runs.previous(run)
        if previous is not None:
            print(comparison_text(services, previous.id, run.id))
    if args.json:
        _write_json(services, run, args.json)
    return 0


def _write_json(services: Services, run: Run, path: Path) -> None:
    payload: dict[str, Any] = {
        "run": run.id,
        "kind": run.kind,
        "settings": run.settings,
        "figures": run.figures,
        "seconds": (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None,
    }
    if run.kind == "check":
        payload["results"] = [
            {
                "case": o.case.id,
                "origin": o.case.origin,
                "question": o.case.question,
                "answerable": o.case.answerable,
                "expected": [e.label for e in o.case.expected],
                "found": [f.label for f in o.found[:5]],
                "page_rank": o.page_rank,
                "abstained": o.abstained,
                "passed": o.passed,
                "latency_ms": round(o.latency_ms),
            }
            for o in services.runs.outcomes(run.id)
        ]
    else:
        payload["questions"] = [
            {
                "question": c.question,
                "answer": c.answer,
                "answerable": c.answerable,
                "expected": [e.label for e in c.expected],
            }
            for c in services.cases.active()
            if c.origin == "generated"
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def _reporter() -> Callable[[Run], None]:
    """Progress on one line at a terminal; into a log, a line per tenth and per change of
    state."""
    last: dict[int, tuple[str, int]] = {}

    def report(run: Run) -> None:
        if sys.stderr.isatty():
            print(f"\r{_line(run):<78}", end="", file=sys.stderr, flush=True)
            return
        step = max(1, run.total // 10)
        state, done = last.get(run.id, ("", -step))
        if run.state != state or run.done >= done + step or run.done == run.total:
            last[run.id] = (run.state, run.done)
            print(_line(run), file=sys.stderr, flush=True)

    return report
