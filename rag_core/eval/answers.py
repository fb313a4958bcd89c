"""Answer evaluation: the whole answer path on a question set with gold answers.

    python -m rag_core.eval answers DATASET [--modes extractive,auto,generative]
        [--answerable 500] [--unanswerable 500] [--model-questions 100] [--half a|b]
        [--json OUT]

DATASET is a folder in one of two layouts, told apart by what it holds:
- SQuAD 2.0 (`documents/*.txt`, `questions.jsonl` with `document`, `answers`,
  `unanswerable`): half the questions have no answer in their article on purpose;
- FinanceBench (`pdfs/*.pdf`, `questions.jsonl` with `answer` and `evidence` pages).
The files are ingested by the real Ingestor (extraction, chunking, embedding as the
product does) into a database of their own, once; later runs reuse it.  Questions are
a fixed random sample (seed 0).  Model modes (`auto`, `generative`, and `before`, the
full-passage prompt the appliance used before evidence-first answers) run on the first
`--model-questions` of each kind, since each costs a model call.

Per mode: gold answer contained in the shown answer (SQuAD's normalisation; for
FinanceBench the gold figure), the right document among the cited sources and among
all sources, the evidence page among the sources, abstention on unanswerable questions
and false abstention on answerable ones, the share of the model's sentences verified,
answers with a runaway repetition, and time to first text and to the full answer.
`--json` writes these and every answer, with each sentence the model wrote and, for
one left out, why it did not verify.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag_core.answers.chat import DECLINED_MESSAGE, AnswerMode, AnswerStream
from rag_core.answers.generation import Generator
from rag_core.answers.loops import LoopGuard
from rag_core.answers.terms import figures
from rag_core.bench.common import percentile
from rag_core.eval.sides import half_of, side_name, vectors_key
from rag_core.figures.metrics import Item, read_request
from rag_core.figures.rows import ROWS_VERSION
from rag_core.settings import Settings

BEFORE = "before"  # the full-passage prompt and plain generation of the earlier appliance
MODES = (*(m.value for m in AnswerMode), BEFORE)
MODEL_MODES = (AnswerMode.AUTO.value, AnswerMode.GENERATIVE.value, BEFORE)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]  # empty: unanswerable
    file: str | None  # the file that answers it
    pages: tuple[int, ...] = ()  # 1-based evidence pages, when known
    kind: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Dataset:
    name: str
    files: Path
    questions: list[Question]
    figures_only: bool  # score by the gold answer's figures (FinanceBench)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load(folder: Path) -> Dataset:
    records = list(_jsonl(folder / "questions.jsonl"))
    if (folder / "documents").is_dir():
        questions = [
            Question(
                str(r["id"]),
                str(r["question"]),
                () if r.get("unanswerable") else tuple(r["answers"]),
                str(r["document"]),
                kind="unanswerable" if r.get("unanswerable") else "answerable",
            )
            for r in records
        ]
        return Dataset(folder.resolve().name, folder / "documents", questions, False)
    if (folder / "pdfs").is_dir():
        questions = [
            Question(
                str(r["id"]),
                str(r["question"]),
                (str(r["answer"]),),
                str(r["evidence"][0]["file"]),
                tuple(int(e["page"]) for e in r["evidence"]),
                str(r.get("question_type", "")),
            )
            for r in records
        ]
        return Dataset(folder.resolve().name, folder / "pdfs", questions, True)
    raise SystemExit(f"{folder} holds neither documents/ (SQuAD) nor pdfs/ (FinanceBench)")


def half(questions: Sequence[Question], which: str | None) -> list[Question]:
    """One of two fixed halves of a set (by a hash of each question's id), to tune on
    one and report the other; None: all."""
    if which is None:
        return list(questions)
    return [q for q in questions if half_of(q.id) == which]


def sample(questions: Sequence[Question], answerable: int, unanswerable: int) -> list[Question]:
    rng = random.Random(0)
    yes = [q for q in questions if q.answerable]
    no = [q for q in questions if not q.answerable]
    rng.shuffle(yes)
    rng.shuffle(no)
    return yes[:answerable] + no[:unanswerable]


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra space."""
    text = "".join(c for c in text.lower() if c not in string.punctuation + "“”’‘")
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_gold(shown: str, gold: Sequence[str], figures_only: bool) -> bool | None:
    """Whether the shown answer holds a gold answer; None when it cannot be scored
    (a FinanceBench answer with no figure)."""
    if figures_only:
        wanted = [f for f in figures(gold[0]) if f not in {"0", "1"}]
        if not wanted:
            return None
        shown_figures = set(figures(shown))
        # Gold figures are often rounded ("$1.6 billion", "0.66"): any one shown counts.
        return any(f in shown_figures for f in wanted)
    text = normalise(shown)
    return any(normalise(answer) and normalise(answer) in text for answer in gold)


_GOLD_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def figure_within(shown: str | None, gold: str, tolerance: float = 0.01) -> bool | None:
    """Whether the computed figure as shown ("0.66", "65.4%", "$11,588.00 million") is
    within `tolerance` of the gold answer's first figure ("$11588.00", "65.4%"), or
    equal to it as the gold answer rounds it; None when the gold answer has no figure."""
    match = _GOLD_NUMBER.search(gold.replace("$", ""))
    if match is None:
        return None
    if shown is None:
        return False
    ours = _GOLD_NUMBER.search(shown.replace("$", ""))
    if ours is None:
        return False
    want, got = float(match.group().replace(",", "")), float(ours.group().replace(",", ""))
    decimals = len(match.group().partition(".")[2])
    return bool(abs(got - want) <= max(tolerance * abs(want), 0.5 * 10**-decimals))


def _asks_reported(question: str) -> bool:
    """Whether the question asks for one line item as a filing reports it."""
    request = read_request(question)
    return request is not None and isinstance(request.formula, Item)


def runaway(text: str) -> bool:
    guard = LoopGuard()
    return any(guard.feed(word + " ") for word in text.split(" "))


def database_name(dataset: Dataset, settings: Settings) -> str:
    names = sorted(p.name for p in dataset.files.iterdir())
    chunking = f"{settings.chunk_tokens}:{settings.chunk_overlap_tokens}"
    key = f"{names}:{chunking}:{vectors_key(settings)}:rows{ROWS_VERSION}"
    return side_name("evalans", dataset.name, key)


def _before_stream(services: Any, question: str, generator: Generator) -> AnswerStream:
    """The appliance's answer path before evidence-first answers: the whole passages in
    the prompt, the model's text shown as it comes."""
    from rag_core.answers.context import build_passages
    from rag_core.answers.prompting import build_prompt

    chat = services.chat
    vector = chat.retriever.embed_query(question)
    hits = chat.retriever.search_vector(question, vector, top_k=chat.params.top_k)
    relevant = [h for h in hits if h.score >= chat.params.relevance_floor or h.text_match]
    if not relevant:
        return AnswerStream(iter(["(abstained)"]), (), True, lambda text: None)  # type: ignore[arg-type,return-value]
    passages = build_passages(services.db, relevant, chat.params.context_neighbours)
    prompt = build_prompt(question, passages, generator.count_tokens, generator.prompt_budget)
    return AnswerStream(generator.stream(prompt), prompt.sources, False, lambda text: None)  # type: ignore[arg-type,return-value]


def run_mode(
    services: Any,
    dataset: Dataset,
    questions: Sequence[Question],
    mode: str,
    before: Generator | None,
) -> dict[str, Any]:
    from rag_core.answers.prompting import cited_numbers

    rows: list[dict[str, Any]] = []
    for number, question in enumerate(questions, start=1):
        started = time.perf_counter()
        if mode == BEFORE:
            assert before is not None
            stream = _before_stream(services, question.text, before)
        else:
            stream = services.chat.ask(question.text, mode=AnswerMode(mode))
        first: float | None = None
        pieces = []
        for piece in stream:
            if first is None and piece.strip():
                first = time.perf_counter() - started
            pieces.append(piece)
        total = time.perf_counter() - started
        text = "".join(pieces).strip()
        answer = stream.answer
        sources = stream.sources
        cited = answer.cited if answer else tuple(cited_numbers(text, len(sources)))
        verdicts = answer.verdicts if answer else ()
        files = [Path(h.source).name for h in sources]
        written = " ".join(v.text for v in verdicts if v.verified)
        rows.append(
            {
                "id": question.id,
                "answerable": question.answerable,
                "kind": question.kind,
                "abstained": stream.abstained,
                "contains_gold": contains_gold(text, question.answers, dataset.figures_only)
                if question.answerable and not stream.abstained
                else (False if question.answerable else None),
                # The model's verified sentences alone, without the quotes above them.
                "written_gold": contains_gold(written, question.answers, dataset.figures_only)
                if question.answerable and not stream.abstained and mode in MODEL_MODES
                else None,
                "file_in_sources": question.file in files,
                "file_cited": any(files[n - 1] == question.file for n in cited),
                "page_in_sources": any(
                    Path(h.source).name == question.file and h.page in question.pages
                    for h in sources
                )
                if question.pages
                else None,
                # The figure the code computed from table rows, scored within 1 %.
                "figure": (answer.figure or {}).get("shown") if answer else None,
                "figure_operands": [
                    (o["page"], o["row"]) for o in (answer.figure or {}).get("operands", [])
                ]
                if answer
                else [],
                "figure_correct": figure_within(
                    (answer.figure or {}).get("shown") if answer else None, question.answers[0]
                )
                if dataset.figures_only and question.answerable
                else None,
                # Some operand's row is on a gold evidence page.
                "operand_on_gold_page": any(
                    o["page"] in question.pages for o in (answer.figure or {}).get("operands", [])
                )
                if answer and answer.figure and answer.figure.get("shown") and question.pages
                else None,
                # The question asks for one reported figure (read as one line item).
                "asks_reported": _asks_reported(question.text),
                "best_evidence": max((e.score for e in stream.evidence), default=None),
                "model_declined": DECLINED_MESSAGE in text,
                "refusal": answer.refusal if answer else None,
                "written": len(verdicts),
                "verified": sum(1 for v in verdicts if v.verified),
                # Each sentence the model wrote, shown or left out, and why not.
                "sentences": [
                    {"text": v.text, "verified": v.verified, "reason": v.reason} for v in verdicts
                ],
                # The model's own text (the quotes above a written echo would look
                # like a repetition); the whole answer where no model wrote.
                # A computed figure's formula repeats its words by design, and no model
                # wrote it: only the model's text and the quotes can run away.
                "runaway": runaway(" ".join(v.text for v in verdicts) if verdicts else text)
                if not (answer and answer.figure and answer.figure.get("shown"))
                else False,
                "first_s": first if first is not None else total,
                "total_s": total,
                "answer": text,
            }
        )
        print(f"\r{mode}: {number}/{len(questions)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"summary": summarise(rows), "rows": rows}


def _share(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    scored = [r[key] for r in rows if r[key] is not None]
    return sum(1 for v in scored if v) / len(scored) if scored else None


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first = [r["first_s"] for r in rows] or [0.0]
    total = [r["total_s"] for r in rows] or [0.0]
    yes = [r for r in rows if r["answerable"]]
    no = [r for r in rows if not r["answerable"]]
    written = sum(r["written"] for r in rows)
    return {
        "answerable": len(yes),
        "unanswerable": len(no),
        "gold_contained": _share(yes, "contains_gold"),
        "written_gold": _share(yes, "written_gold"),
        "file_cited": _share(yes, "file_cited"),
        "file_in_sources": _share(yes, "file_in_sources"),
        "page_in_sources": _share(yes, "page_in_sources"),
        "false_abstention": _share(yes, "abstained"),
        # FinanceBench: the computed figure within 1 % of gold, over the questions
        # whose gold is a computed metric, and how many of those showed a figure at all.
        "figure_within_1pct": _share(
            [r for r in yes if r["kind"] == "metrics-generated"], "figure_correct"
        ),
        "figures_shown": sum(1 for r in rows if r["figure"]),
        # Of the questions asking for one reported figure: its row quoted, right.
        "reported_row_quoted": _share(
            [
                {**r, "hit": bool(r["figure_correct"] and r["operand_on_gold_page"])}
                for r in yes
                if r["asks_reported"]
            ],
            "hit",
        ),
        "operand_on_gold_page": _share(yes, "operand_on_gold_page"),
        "abstention_unanswerable": _share(no, "abstained"),
        "model_sentences": written,
        "sentences_verified": sum(r["verified"] for r in rows) / written if written else None,
        "runaway_answers": sum(1 for r in rows if r["runaway"]),
        "first_text_p50_s": percentile(first, 0.5),
        "first_text_p95_s": percentile(first, 0.95),
        "full_answer_p50_s": percentile(total, 0.5),
        "full_answer_p95_s": percentile(total, 0.95),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    columns = [
        "answerable", "unanswerable", "gold_contained", "written_gold", "file_cited",
        "file_in_sources", "page_in_sources", "false_abstention", "abstention_unanswerable",
        "figure_within_1pct", "figures_shown", "reported_row_quoted", "operand_on_gold_page",
        "sentences_verified", "runaway_answers", "first_text_p50_s", "first_text_p95_s",
        "full_answer_p50_s", "full_answer_p95_s",
    ]  # fmt: skip
    lines = []
    for column in columns:
        cells = "".join(f"{_fmt(r['summary'][column]):>12}" for r in results.values())
        lines.append(f"{column:<25}{cells}")
    header = f"{'':<25}" + "".join(f"{mode:>12}" for mode in results)
    return "\n".join([header, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.eval answers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", type=Path, help="a SQuAD 2.0 or FinanceBench folder")
    parser.add_argument(
        "--modes", default="extractive,auto", help=f"comma-separated: {', '.join(MODES)}"
    )
    parser.add_argument("--answerable", type=int, default=500, help="answerable questions sampled")
    parser.add_argument(
        "--unanswerable", type=int, default=500, help="unanswerable questions sampled"
    )
    parser.add_argument(
        "--model-questions", type=int, default=100,
        help="questions of each kind the model modes run on (each costs a model call)",
    )  # fmt: skip
    parser.add_argument(
        "--half", choices=("a", "b"), help="only one fixed half of the questions (tune on a)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures (and every answer) here")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"unknown mode {unknown[0]!r}; --modes takes {', '.join(MODES)}")
    if not (args.dataset / "questions.jsonl").is_file():
        parser.error(f"{args.dataset} has no questions.jsonl")

    from rag_core.access.phi_logs import configure_logging
    from rag_core.eval.sides import side_settings
    from rag_core.services import build_local_generator, build_services

    settings = Settings()
    configure_logging(settings)
    dataset = load(args.dataset)
    chosen = sample(half(dataset.questions, args.half), args.answerable, args.unanswerable)
    wanted_files = {q.file for q in chosen}
    side = side_settings(settings, database_name(dataset, settings))
    services = build_services(side)
    try:
        files = sorted(p for p in dataset.files.iterdir() if p.name in wanted_files)
        started = time.perf_counter()
        for number, path in enumerate(files, start=1):
            result = services.ingestor.ingest_file(path)
            print(
                f"\ringesting {number}/{len(files)}: {result.outcome.value:9}",
                end="",
                file=sys.stderr,
                flush=True,
            )
        print(f"\ningested in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        before = None
        if BEFORE in modes:  # the generation of the earlier appliance: no guard, no penalties
            plain = build_local_generator(settings).params
            before = Generator(
                settings.llm_path,
                replace(
                    plain,
                    max_answer_tokens=320,
                    repeat_penalty=1.0,
                    frequency_penalty=0.0,
                    loop_guard=False,
                ),
            )
        results: dict[str, dict[str, Any]] = {}
        for mode in modes:
            if mode in MODEL_MODES:
                subset = [q for q in chosen if q.answerable][: args.model_questions] + [
                    q for q in chosen if not q.answerable
                ][: args.model_questions]
            else:
                subset = chosen
            results[mode] = run_mode(services, dataset, subset, mode, before)
    finally:
        services.close()
    print(f"{dataset.name}: {len(chosen)} questions sampled, {len(wanted_files)} files")
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "dataset": dataset.name,
            "half": args.half,
            "settings": {
                "answer_mode_default": settings.answer_mode,
                "top_k": settings.top_k,
                "evidence_sentences": settings.evidence_sentences,
                "evidence_floor": settings.evidence_floor,
                "relevance_floor": settings.relevance_floor,
                "llm": settings.llm_path.name,
            },
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0
