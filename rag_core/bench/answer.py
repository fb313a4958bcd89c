"""`answer`: what a person waits for, through the appliance's own path (`ChatService.ask`
in `auto` mode, the answer model in the generation service), on a library of PDFs:
- quotes: the quoted evidence on screen (question check, embedding, hybrid retrieval,
  evidence selection);
- first written: the first verified sentence of the model's answer under them;
- complete: the whole answer, every sentence checked.
Asked with the machine otherwise idle, then while a second process ingests a long PDF
into the same library, at each `--ingest-nice` level (10 by default, as `make run`
starts the watcher; 0 is no yielding at all), and with `--beside-check` while the site's
quality worker (`eval site work`, as the Quality page starts it) checks cases with the
model writing: each question is asked once the worker has resumed after the one before
(`QUIET_SECONDS` and a little more), so it meets the worker mid-case, as a person's
question would.  A question whose answer has no written part counts for quotes and
complete only.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag_core.answers.chat import SUMMARY_HEADING, AnswerMode
from rag_core.bench.common import corpus_texts, print_table, scratch_settings, write_pdfs
from rag_core.settings import Settings

_COLUMNS = ["quotes_s", "first_written_s", "complete_s"]


def questions_about(corpus: Path, texts: int, count: int) -> list[str]:
    """Questions on `count` of the first `texts` corpus texts (those in the PDFs), each
    naming the opening words of the text's body, so retrieval finds them."""
    picked: list[str] = []
    step = max(texts // max(count, 1), 1)
    for number, text in enumerate(corpus_texts(corpus)):
        if number >= texts or len(picked) == count:
            break
        if number % step == 0:
            words = text.split("\n\n", 1)[-1].split()[:8]
            picked.append(f"What do the documents say about {' '.join(words)}?")
    return picked


def _round(services: Any, asked: Sequence[str]) -> list[dict[str, Any]]:
    _forget_words(services)
    return [_ask(services, q) for q in asked]


def _forget_words(services: Any) -> None:
    """The model's words for weak questions are asked for again in each round, not
    taken from the round before."""
    clear = getattr(services.retriever.expand, "clear", None)
    if clear is not None:
        clear()


def _ask(services: Any, question: str) -> dict[str, Any]:
    started = time.perf_counter()
    stream = services.chat.ask(question, mode=AnswerMode.AUTO)
    quotes = written = None
    for piece in stream:
        now = time.perf_counter() - started
        if quotes is None:
            quotes = now
        if written is None and SUMMARY_HEADING in piece:
            written = now  # the heading comes with the first verified sentence's turn
    complete = time.perf_counter() - started
    return {
        "question": question[32:64],
        "quotes_s": round(quotes or complete, 3),
        "first_written_s": None if written is None else round(written, 3),
        "complete_s": round(complete, 3),
    }


def _medians(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in _COLUMNS:
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    values = sorted(r["complete_s"] for r in rows)
    out["complete_p95_s"] = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return out


def _ingest_beside(settings: Settings, pdf: Path, nice: int) -> subprocess.Popen[bytes]:
    """A second process ingesting `pdf` into the same library, at `nice`."""
    from rag_core.answers.client import service_environment

    env = service_environment(settings)
    env.update(
        {
            "RAG_DATABASE_URL": settings.database_url or "",
            "RAG_DROP_DIR": str(settings.drop_dir),
            "RAG_EXTRACT_TIMEOUT_SECONDS": "3600",
        }
    )
    return subprocess.Popen(
        ["nice", "-n", str(nice), sys.executable, "-m", "rag_core", "ingest", str(pdf)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _cases(services: Any, count: int) -> int:
    """`count` cases over the library's passages ("What do the documents say about …",
    with its page), as a generation would store them; returns how many were stored."""
    from rag_core.quality.generation import Generated, spread
    from rag_core.quality.questions import document_spans, passage

    run_id = services.runs.queue("generate", "bench", {"questions": count})
    made = []
    for chunk_id in spread(document_spans(services.db), count):
        found = passage(services.db, chunk_id)
        if found is not None:
            opening = " ".join(found.text.split()[:8])
            made.append(Generated(f"What do the documents say about {opening}?", "", found))
    services.cases.add_generated(made, [], run_id)
    services.runs.end(run_id, "done", None, {"kept": len(made)})
    return len(made)


def _check_beside(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    """The site's quality worker in a second process, on the same library and model."""
    from rag_core.answers.client import service_environment

    env = service_environment(settings)  # its data folder: the same embedded server
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "rag_core.eval", "site", "work", "--quiet"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _during_check(
    services: Any, settings: Settings, asked: Sequence[str]
) -> tuple[list[dict[str, Any]], int]:
    """The questions asked while a check runs beside them, and how many cases the
    check answered meanwhile."""
    from rag_core.quality.runs import QUIET_SECONDS

    run_id = services.runs.queue("check", "bench", {"mode": AnswerMode.AUTO.value})
    log_file = settings.data_dir / "check-beside.log"
    worker = _check_beside(settings, log_file)
    rows: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 600
        while _done(services, run_id) == 0 and worker.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the quality worker answered no case in 10 minutes")
            time.sleep(0.5)
        first = _done(services, run_id)
        _forget_words(services)
        for question in asked:
            time.sleep(QUIET_SECONDS + 3.0)  # the worker resumes, and is mid-case again
            if worker.poll() is not None:
                raise RuntimeError(f"the check ended before the questions: see {log_file}")
            rows.append(_ask(services, question))
        return rows, _done(services, run_id) - first
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _done(services: Any, run_id: int) -> int:
    run = services.runs.get(run_id)
    return run.done if run is not None else 0


def bench_answer(
    settings: Settings,
    corpus: Path,
    questions: int,
    nices: Sequence[int] = (10,),
    beside_check: bool = False,
) -> dict[str, Any]:
    from rag_core.services import build_services

    scratch = scratch_settings(settings.model_copy(update={"llm_temperature": 0.0}), "rag-bench-")
    folder = scratch.drop_dir.parent / "pdfs"
    folder.mkdir(parents=True)
    write_pdfs(folder, corpus, pages=10, files=3)  # two texts a page
    long_folder = scratch.drop_dir.parent / "long"
    long_folder.mkdir()
    pages = 30 if questions <= 1 else 300
    long_pdfs = write_pdfs(long_folder, corpus, pages=pages, files=len(nices))
    services = build_services(scratch)
    asked = questions_about(corpus, 60, questions)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        list(services.ingestor.ingest_paths([folder]))
        services.warm_up()
        services.chat.ask(asked[0], mode=AnswerMode.AUTO).complete()  # first-use costs
        results["idle"] = _round(services, asked)
        url = services.db.engine.url.render_as_string(hide_password=False)
        beside = scratch.model_copy(update={"database_url": url})
        still = True
        for nice, long_pdf in zip(nices, long_pdfs, strict=True):
            ingesting = _ingest_beside(beside, long_pdf, nice)
            try:
                time.sleep(5.0)  # past the ingest's start-up, into its reading and embedding
                results[f"during an ingest at nice {nice}"] = _round(services, asked)
                still = still and ingesting.poll() is None
            finally:
                ingesting.terminate()
                ingesting.wait(timeout=60)
        checked: int | None = None
        if beside_check:
            _cases(services, 40 * max(questions, 1))
            results["during a site check"], checked = _during_check(services, scratch, asked)
    finally:
        services.close()
        stop = getattr(services.generator, "stop", None)
        if stop is not None:
            stop()  # the service this benchmark started
    return _report(scratch, results, still, checked)


def _report(
    scratch: Settings, results: dict[str, list[dict[str, Any]]], still: bool, checked: int | None
) -> dict[str, Any]:
    """Print the tables and medians; the figures as JSON."""
    for when, rows in results.items():
        print_table(
            f"answer ({when}): {scratch.llm_path.name}, auto mode, through the generation service",
            rows,
            ["question", *_COLUMNS],
        )
    summary = {when: _medians(rows) for when, rows in results.items()}
    for when, medians in summary.items():
        print(f"{when}: medians {medians}")
    if not still:
        print("note: the ingest ended before the last question; lengthen the PDF")
    found: dict[str, Any] = {"benchmark": "answer", "runs": results, "medians": summary}
    found["ingest_ran"] = still
    if checked is not None:
        idle = summary["idle"]["complete_s"] or 0.0
        during = summary["during a site check"]["complete_s"] or 0.0
        found["check_cases_answered"] = checked
        found["check_slowdown"] = round(during / idle, 2) if idle else None
        print(
            f"during a site check: complete p50 {during:.2f} s against {idle:.2f} s idle "
            f"({found['check_slowdown']}x); the check answered {checked} cases meanwhile"
        )
    return found
