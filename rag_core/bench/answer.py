"""`answer`: time to the quoted evidence (question check, embedding, hybrid retrieval,
evidence selection: what staff see first), then time to first token and tokens/s of the
appliance's generation on the evidence prompt (repetition penalties, loop guard) against
llama.cpp called directly (`Llama.create_chat_completion`, streaming, same sampling)
with the very same prompt, on a second copy of the model loaded the same way.

Both sides use temperature 0, so they write the same answer; the questions are asked
in turn (pipeline, then direct), each side with its own model and prompt cache.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag_core.answers.chat import AnswerMode
from rag_core.answers.generation import Generator
from rag_core.answers.prompting import Prompt, build_evidence_prompt
from rag_core.bench.common import corpus_texts, print_table, scratch_settings, write_pdfs
from rag_core.settings import Settings


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


def _timed(pieces: Iterator[str], started: float) -> tuple[float, float, int]:
    """(seconds to first piece, seconds in all, pieces) of a stream started at `started`."""
    first = 0.0
    count = 0
    for _ in pieces:
        if count == 0:
            first = time.perf_counter() - started
        count += 1
    return first, time.perf_counter() - started, count


def _raw_stream(generator: Generator, prompt: Prompt) -> Iterator[str]:
    """llama.cpp's own streaming call, without the appliance's Generator around it."""
    params = generator.params
    chunks: Any = generator.llm.create_chat_completion(
        messages=[
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        max_tokens=params.max_answer_tokens,
        temperature=params.temperature,
        repeat_penalty=params.repeat_penalty,
        frequency_penalty=params.frequency_penalty,
        stream=True,
    )
    for chunk in chunks:
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            yield piece


def bench_answer(settings: Settings, corpus: Path, questions: int) -> dict[str, Any]:
    from rag_core.services import build_local_generator, build_services

    scratch = scratch_settings(settings.model_copy(update={"llm_temperature": 0.0}), "rag-bench-")
    folder = scratch.drop_dir.parent / "pdfs"
    folder.mkdir(parents=True)
    write_pdfs(folder, corpus, pages=10, files=3)  # two texts a page
    generator = build_local_generator(scratch)
    direct = build_local_generator(scratch)
    services = build_services(scratch, generator=generator)
    rows: list[dict[str, Any]] = []
    try:
        list(services.ingestor.ingest_paths([folder]))
        services.embedder.embed(["warm up"])
        generator.llm, direct.llm  # load both before timing  # noqa: B018
        for question in questions_about(corpus, 60, questions):
            started = time.perf_counter()
            stream = services.chat.ask(question, mode=AnswerMode.EXTRACTIVE)
            evidence, _, _ = _timed(iter(stream), started)  # what staff see first
            if stream.abstained:
                continue
            prompt = build_evidence_prompt(question, stream.sources, stream.evidence)
            started = time.perf_counter()
            first, total, pieces = _timed(generator.stream(prompt), started)
            started = time.perf_counter()
            d_first, d_total, d_pieces = _timed(_raw_stream(direct, prompt), started)
            rows.append(
                {
                    "question": question[32:72],
                    "evidence_s": round(evidence, 3),
                    "pipeline_first_s": round(first, 3),
                    "direct_first_s": round(d_first, 3),
                    "pipeline_tok_s": round(pieces / max(total - first, 1e-9), 1),
                    "direct_tok_s": round(d_pieces / max(d_total - d_first, 1e-9), 1),
                    "tokens": pieces,
                }
            )
    finally:
        services.close()
    if not rows:
        raise RuntimeError("every question was abstained from; nothing to time")
    print_table(
        f"answer: {Path(str(generator.model_path)).name}, {scratch.llm_threads} threads, "
        "time to first token and tokens/s",
        rows,
        [
            "question",
            "evidence_s",
            "pipeline_first_s",
            "direct_first_s",
            "pipeline_tok_s",
            "direct_tok_s",
        ],
    )
    summary = {
        key: round(statistics.median(r[key] for r in rows), 3)
        for key in (
            "evidence_s",
            "pipeline_first_s",
            "direct_first_s",
            "pipeline_tok_s",
            "direct_tok_s",
        )
    }
    overhead_first = summary["pipeline_first_s"] / summary["direct_first_s"] - 1
    overhead_rate = 1 - summary["pipeline_tok_s"] / summary["direct_tok_s"]
    print(
        f"medians: evidence on screen {summary['evidence_s']} s; first token "
        f"{summary['pipeline_first_s']} s vs {summary['direct_first_s']} s "
        f"direct ({overhead_first:+.0%}); tokens/s "
        f"{summary['pipeline_tok_s']} vs {summary['direct_tok_s']} ({overhead_rate:+.0%} slower)\n"
    )
    return {"benchmark": "answer", "runs": rows, "medians": summary}
