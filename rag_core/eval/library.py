"""Page-level retrieval evaluation of the real pipeline on a folder of real files.

    python -m rag_core.eval library DIR [--modes hybrid,vector,fulltext,bm25-500,vector-500]
        [--k 10] [--fresh] [--json OUT]

DIR holds the files (any depth, e.g. FinanceBench's `pdfs/`) and a `questions.jsonl`,
one object per line:
    {"id": "q1", "question": "...", "evidence": [{"file": "a.pdf", "page": 12}, ...],
     "answer": "... (optional)", "question_type": "... (optional)"}
`file` is a name below DIR (its base name is enough), `page` is 1-based and may be left
out for formats without pages.  Every readable file below DIR is a document of the
library except DIR's own README.  FinanceBench's development split is in this layout.

Every file is ingested by the real Ingestor (extraction, cleaning, chunking, embedding
exactly as the product does) into a database of its own (`evallib_*`, reused by later
runs until the files, the chunk settings or the ingestion pipeline change; `--fresh`
starts it again).  Each question is searched in each mode for its top k passages:
- `hybrid`, `vector`, `fulltext`: the appliance's own search;
- `bm25-500`, `vector-500`: plain baselines beside it, over 500-character pieces of
  each page's raw pypdf text (Okapi BM25 on lower-cased words without stopwords,
  k1 1.2, b 0.75; MiniLM cosine, exact).  They are what a simple system does.
Reported per mode: file recall@1/5/10 (a passage of an evidence file in the top n),
page recall@1/5/10 (a passage on an evidence page), page MRR@10, per question type,
and latency per question including its embedding.  As in the chat, a weak question is
searched again with the answer model's words (`RAG_EXPAND_WEAK_QUESTIONS`; the
generation service starts for the first one): the table says how many were and their
p50.  `RAG_EXPAND_WEAK_QUESTIONS=false` measures the search alone.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.answers.terms import STOPWORDS
from rag_core.bench.common import percentile
from rag_core.eval.sides import half_of, side_name, side_settings, vectors_key
from rag_core.settings import Settings

CUTOFFS = (1, 5, 10)
APPLIANCE_MODES = ("hybrid", "vector", "fulltext")
BASELINES = ("bm25-500", "vector-500")
MODES = (*APPLIANCE_MODES, *BASELINES)
_PIECE_CHARS = 500


@dataclass(frozen=True)
class Evidence:
    file: str  # base name
    page: int | None


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    evidence: tuple[Evidence, ...]
    kind: str

    @property
    def files(self) -> set[str]:
        return {e.file for e in self.evidence}

    @property
    def pages(self) -> set[tuple[str, int]]:
        return {(e.file, e.page) for e in self.evidence if e.page is not None}


@dataclass(frozen=True)
class Found:
    """One retrieved passage, as the metrics see it."""

    file: str
    page_start: int | None
    page_end: int | None
    found_with: str | None = None  # the answer model's words searched for beside it

    def on(self, pages: set[tuple[str, int]]) -> bool:
        if self.page_start is None:
            return False
        last = self.page_end if self.page_end is not None else self.page_start
        return any((self.file, p) in pages for p in range(self.page_start, last + 1))


def load_questions(path: Path) -> list[Question]:
    """The questions of a `questions.jsonl` file (or of the one in a folder)."""
    if path.is_dir():
        path = path / "questions.jsonl"
    questions = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            try:
                evidence = tuple(
                    Evidence(Path(str(e["file"])).name, int(e["page"]) if e.get("page") else None)
                    for e in record["evidence"]
                )
                text = str(record["question"])
            except (KeyError, TypeError, ValueError) as exc:
                raise SystemExit(
                    f"{path}, line {number}: each question needs 'question' and 'evidence' "
                    '(a list of {"file", "page"})'
                ) from exc
            if not evidence:
                raise SystemExit(f"{path}, line {number}: 'evidence' is empty")
            kind = str(record.get("question_type") or record.get("type") or "all")
            questions.append(Question(str(record.get("id", number)), text, evidence, kind))
    return questions


def dataset_files(folder: Path) -> list[Path]:
    from rag_core.extract import is_supported

    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and is_supported(p)
        and not _hidden(p, folder)
        and not (p.parent == folder and p.stem.upper() == "README")  # the set's own notes
    )


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


# --- metrics ------------------------------------------------------------------------


def question_metrics(found: Sequence[Found], question: Question) -> dict[str, float | None]:
    """File and page recall at each cutoff, page MRR@10 (None: the question has no page)."""
    files = question.files
    pages = question.pages
    row: dict[str, float | None] = {}
    for n in CUTOFFS:
        row[f"file@{n}"] = float(any(f.file in files for f in found[:n]))
        row[f"page@{n}"] = float(any(f.on(pages) for f in found[:n])) if pages else None
    first_file = next((i for i, f in enumerate(found[:10], 1) if f.file in files), None)
    row["file_mrr"] = 1.0 / first_file if first_file else 0.0
    if pages:
        first = next((i for i, f in enumerate(found[:10], 1) if f.on(pages)), None)
        row["page_mrr"] = 1.0 / first if first else 0.0
    else:
        row["page_mrr"] = None
    return row


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(rows)}
    for key in [f"file@{n}" for n in CUTOFFS] + [f"page@{n}" for n in CUTOFFS]:
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = sum(values) / len(values) if values else None
    for key in ("file_mrr", "page_mrr"):
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = sum(values) / len(values) if values else None
    latencies = [r["seconds"] for r in rows] or [0.0]
    out["latency_p50_ms"] = 1000 * statistics.median(latencies)
    out["latency_p95_ms"] = 1000 * percentile(latencies, 0.95)
    # Weak questions searched again with the answer model's words, and what that took.
    expanded = [r["seconds"] for r in rows if r.get("expanded_with")]
    out["expanded"] = len(expanded)
    out["expanded_p50_ms"] = 1000 * statistics.median(expanded) if expanded else None
    return out


# --- plain baselines -------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def plain_tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


@dataclass(frozen=True)
class Piece:
    file: str
    page: int | None
    text: str


def plain_pieces(path: Path, size: int = _PIECE_CHARS) -> list[Piece]:
    """A page's raw text cut into pieces of at most `size` characters at spaces."""
    pages: list[tuple[int | None, str]]
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(path)
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [(n, p.extract_text() or "") for n, p in enumerate(reader.pages, start=1)]
    else:
        pages = [(None, path.read_text(encoding="utf-8", errors="replace"))]
    pieces = []
    for number, text in pages:
        words = text.split()
        current: list[str] = []
        length = 0
        for word in words:
            if current and length + 1 + len(word) > size:
                pieces.append(Piece(path.name, number, " ".join(current)))
                current, length = [], 0
            current.append(word)
            length += len(word) + (1 if length else 0)
        if current:
            pieces.append(Piece(path.name, number, " ".join(current)))
    return pieces


class PlainBm25:
    """Okapi BM25 over pieces, in memory: the plain baseline."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths = np.zeros(len(texts), np.float32)
        for index, text in enumerate(texts):
            counts = Counter(plain_tokens(text))
            self.lengths[index] = sum(counts.values())
            for term, tf in counts.items():
                self.postings[term].append((index, tf))
        self.average = float(self.lengths.mean()) if len(texts) else 1.0

    def idf(self, term: str) -> float:
        n, df = len(self.lengths), len(self.postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self.lengths), np.float32)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.average)
        for term in set(plain_tokens(query)):
            postings = self.postings.get(term)
            if not postings:
                continue
            index = np.fromiter((i for i, _ in postings), np.int64)
            tf = np.fromiter((t for _, t in postings), np.float32)
            scores[index] += self.idf(term) * tf * (self.k1 + 1) / (tf + norm[index])
        return scores

    def top(self, query: str, k: int) -> list[int]:
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in order if scores[i] > 0]


def load_baseline(
    files: Sequence[Path], embed: Callable[[Sequence[str]], np.ndarray], cache: Path
) -> tuple[list[Piece], np.ndarray]:
    """The plain pieces of every file and their embeddings, cached on disk."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as held:
            meta = json.loads(str(held["pieces"]))
            pieces = [Piece(f, p, t) for f, p, t in meta]
            return pieces, held["vectors"]
    pieces = []
    for number, path in enumerate(files, start=1):
        pieces.extend(plain_pieces(path))
        _progress(f"baseline: reading {number}/{len(files)} files, {len(pieces)} pieces")
    vectors = []
    for start in range(0, len(pieces), 256):
        vectors.append(embed([p.text for p in pieces[start : start + 256]]))
        _progress(f"baseline: embedding {min(start + 256, len(pieces))}/{len(pieces)} pieces")
    print(file=sys.stderr)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, 384), np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps([[p.file, p.page, p.text] for p in pieces])
    np.savez(cache, pieces=np.array(payload), vectors=matrix)
    return pieces, matrix


def _progress(line: str) -> None:
    print(f"\r{line}", end="", file=sys.stderr, flush=True)


# --- the run ---------------------------------------------------------------------------


def _listing(folder: Path, files: Sequence[Path]) -> str:
    return str([(str(p.relative_to(folder)), p.stat().st_size) for p in files])


def database_name(folder: Path, files: Sequence[Path], settings: Settings) -> str:
    from rag_core.ingestion.ingest import PIPELINE_VERSION

    key = (
        f"{_listing(folder, files)}:{settings.chunk_tokens}:{settings.chunk_overlap_tokens}:"
        f"{vectors_key(settings)}:{PIPELINE_VERSION}"
    )
    return side_name("evallib", folder.resolve().name, key)


def baseline_key(folder: Path, files: Sequence[Path]) -> str:
    """The plain baselines depend on the files alone, not on the pipeline."""
    return side_name("plain", folder.resolve().name, f"{_listing(folder, files)}:{_PIECE_CHARS}")


def run(
    questions: Sequence[Question],
    search: Callable[[str], list[Found]],
    label: str,
) -> list[dict[str, Any]]:
    rows = []
    for number, question in enumerate(questions, start=1):
        started = time.perf_counter()
        found = search(question.text)
        seconds = time.perf_counter() - started
        row: dict[str, Any] = {"id": question.id, "kind": question.kind, "seconds": seconds}
        row |= question_metrics(found, question)
        row["top"] = [[f.file, f.page_start] for f in found[:5]]
        row["expanded_with"] = next((f.found_with for f in found if f.found_with), None)
        rows.append(row)
        _progress(f"{label}: {number}/{len(questions)}")
    print(file=sys.stderr)
    return rows


def format_table(results: dict[str, dict[str, Any]]) -> str:
    columns = [
        *(f"file@{n}" for n in CUTOFFS),
        *(f"page@{n}" for n in CUTOFFS),
        "page_mrr",
    ]
    lines = [f"{'mode':<12}" + "".join(f"{c:>9}" for c in columns) + f"{'p50 ms':>9}{'p95 ms':>9}"]
    for mode, summary in results.items():
        cells = "".join(
            f"{'–':>9}" if summary[c] is None else f"{summary[c]:>9.3f}" for c in columns
        )
        lines.append(
            f"{mode:<12}{cells}{summary['latency_p50_ms']:>9.1f}{summary['latency_p95_ms']:>9.1f}"
        )
    for mode, summary in results.items():
        if summary["expanded"]:
            lines.append(
                f"{mode}: {summary['expanded']} of {summary['questions']} weak questions "
                f"searched again with the answer model's words, "
                f"p50 {summary['expanded_p50_ms'] / 1000:.1f} s each"
            )
    return "\n".join(lines)


def _ingest(services: Any, files: Sequence[Path]) -> None:
    started = time.perf_counter()
    ingested = 0
    for number, path in enumerate(files, start=1):
        result = services.ingestor.ingest_file(path)
        ingested += result.outcome.value == "ingested"
        _progress(f"ingesting {number}/{len(files)}: {path.name[:40]:40} {result.outcome}")
    print(f"\n{ingested} files ingested in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _appliance_search(services: Any, mode_name: str, k: int) -> Callable[[str], list[Found]]:
    from rag_core.search.retrieval import Mode

    def search(text: str) -> list[Found]:
        hits = services.retriever.search(text, top_k=k, mode=Mode(mode_name))
        return [Found(Path(h.source).name, h.page, h.page_end, h.found_with) for h in hits]

    return search


def _baseline_searches(
    services: Any, files: Sequence[Path], cache: Path, wanted: Sequence[str], k: int
) -> dict[str, Callable[[str], list[Found]]]:
    pieces, vectors = load_baseline(files, services.embedder.embed, cache)

    def found(indices: Sequence[int]) -> list[Found]:
        return [Found(pieces[i].file, pieces[i].page, pieces[i].page) for i in indices]

    searches: dict[str, Callable[[str], list[Found]]] = {}
    if "bm25-500" in wanted:
        bm25 = PlainBm25([p.text for p in pieces])
        searches["bm25-500"] = lambda text: found(bm25.top(text, k))
    if "vector-500" in wanted:

        def cosine(text: str) -> list[Found]:
            scores = vectors @ services.embedder.embed_one(text)
            return found([int(i) for i in np.argsort(-scores)[:k]])

        searches["vector-500"] = cosine
    return searches


def evaluate(
    services: Any,
    questions: Sequence[Question],
    files: Sequence[Path],
    modes: Sequence[str],
    k: int,
    cache: Path,
) -> dict[str, dict[str, Any]]:
    """Rows and summary per mode, in the order of `modes`."""
    searches = {m: _appliance_search(services, m, k) for m in modes if m in APPLIANCE_MODES}
    if wanted := [m for m in modes if m in BASELINES]:
        searches |= _baseline_searches(services, files, cache, wanted, k)
    return {m: scored(questions, searches[m], m) for m in modes}


def scored(
    questions: Sequence[Question], search: Callable[[str], list[Found]], label: str
) -> dict[str, Any]:
    """Each question's row, the summary over all, and the summary of each fixed half."""
    rows = run(questions, search, label)
    halves = {h: summarise([r for r in rows if half_of(r["id"]) == h]) for h in "ab"}
    return {"summary": summarise(rows), "halves": halves, "rows": rows}


def by_half(results: dict[str, dict[str, Any]]) -> str:
    """File@5, page@5 and page MRR on each fixed half (`sides.half_of`): a change is kept
    only if it helps both."""
    keys = ("file@5", "page@5", "page_mrr")
    header = "".join(f"{f'{key} {h}':>13}" for key in keys for h in "ab")
    lines = ["by fixed half (tune on a, keep a change only if b agrees)", f"{'mode':<12}{header}"]
    for mode_name, result in results.items():
        halves = result["halves"]
        cells = "".join(
            f"{'–':>13}" if halves[h][key] is None else f"{halves[h][key]:>13.3f}"
            for key in keys
            for h in "ab"
        )
        lines.append(f"{mode_name:<12}{cells}")
    return "\n".join(lines)


def by_type(questions: Sequence[Question], results: dict[str, dict[str, Any]]) -> str:
    modes = list(results)
    lines = ["page@5 by question type", f"{'type':<22}" + "".join(f"{m:>12}" for m in modes)]
    for kind in sorted({q.kind for q in questions}):
        cells = []
        for mode_name in modes:
            value = summarise([r for r in results[mode_name]["rows"] if r["kind"] == kind])[
                "page@5"
            ]
            cells.append(f"{'–':>12}" if value is None else f"{value:>12.3f}")
        count = sum(1 for q in questions if q.kind == kind)
        lines.append(f"{kind[:17] + f' ({count})':<22}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.eval library",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path, help="files and a questions.jsonl")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated: {', '.join(MODES)}"
    )
    parser.add_argument("--k", type=int, default=10, help="passages retrieved per question")
    parser.add_argument("--fresh", action="store_true", help="ingest everything again")
    parser.add_argument(
        "--database",
        help="search this evaluation database as it was built (e.g. by an earlier "
        "pipeline, to compare rankings on the same passages); files it holds unchanged "
        "are not read again",
    )
    parser.add_argument("--json", type=Path, help="also write the figures (and every row) here")
    parser.add_argument(
        "--questions",
        type=Path,
        help="ask these questions instead of DIR/questions.jsonl (e.g. a site's generated "
        "cases, from `eval site export`)",
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"unknown mode {unknown[0]!r}; --modes takes {', '.join(MODES)}")
    questions_file = args.questions or args.folder / "questions.jsonl"
    if not questions_file.is_file():
        parser.error(f"{questions_file} does not exist")

    from rag_core.access.phi_logs import configure_logging
    from rag_core.db.engine import drop_side_database
    from rag_core.services import build_services, retrieval_params

    settings = Settings()
    configure_logging(settings)
    questions = load_questions(questions_file)
    files = dataset_files(args.folder)
    names = {p.name for p in files}
    if missing := sorted({e.file for q in questions for e in q.evidence} - names):
        parser.error(f"evidence names files that are not in {args.folder}: {missing[:5]}")
    name = args.database or database_name(args.folder, files, settings)
    if args.fresh:
        drop_side_database(settings.database_url, settings.data_dir, name)
    side = side_settings(settings, name)
    services = build_services(side)
    try:
        _ingest(services, files)
        # No query cache: latency includes embedding the question.
        services.retriever.params = replace(retrieval_params(side), query_cache_size=0)
        cache = settings.data_dir / "eval-cache" / f"{baseline_key(args.folder, files)}.npz"
        results = evaluate(services, questions, files, modes, args.k, cache)
    finally:
        services.close()

    print(f"{args.folder.resolve().name}: {len(files)} files, {len(questions)} questions")
    print(format_table({m: r["summary"] for m, r in results.items()}))
    print("\n" + by_half(results))
    if len({q.kind for q in questions}) > 1:
        print("\n" + by_type(questions, results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "dataset": args.folder.resolve().name,
            "files": len(files),
            "questions": len(questions),
            "k": args.k,
            "database": name,
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0
