"""`answer`: what a person waits for, through the appliance's own path (`ChatService.ask`
in `auto` mode, the answer model in the generation service), on a library of PDFs:
- quotes: the quoted evidence on screen (question check, embedding, hybrid retrieval,
  evidence selection);
- first written: the first verified sentence of the model's answer under them;
- complete: the whole answer, every sentence checked.
Asked with the machine otherwise idle, then while a second process ingests a long PDF
into the same library, at each `--ingest-nice` level (10 by default, as `make run`
starts the watcher; 0 is no yielding at all).  A question
whose answer has no written part counts for quotes and complete only.
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


def bench_answer(
    settings: Settings, corpus: Path, questions: int, nices: Sequence[int] = (10,)
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
        results["idle"] = [_ask(services, q) for q in asked]
        url = services.db.engine.url.render_as_string(hide_password=False)
        beside = scratch.model_copy(update={"database_url": url})
        still = True
        for nice, long_pdf in zip(nices, long_pdfs, strict=True):
            ingesting = _ingest_beside(beside, long_pdf, nice)
            try:
                time.sleep(5.0)  # past the ingest's start-up, into its reading and embedding
                results[f"during an ingest at nice {nice}"] = [_ask(services, q) for q in asked]
                still = still and ingesting.poll() is None
            finally:
                ingesting.terminate()
                ingesting.wait(timeout=60)
    finally:
        services.close()
        stop = getattr(services.generator, "stop", None)
        if stop is not None:
            stop()  # the service this benchmark started
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
    return {"benchmark": "answer", "runs": results, "medians": summary, "ingest_ran": still}
