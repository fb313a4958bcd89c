"""Retrieval evaluation on a dataset in the BEIR layout.

    python -m rag_core.eval DATASET_DIR [--modes vector,fulltext,hybrid] [--k 10]
                            [--max-queries N] [--floors 0.3] [--json OUT]
    python -m rag_core.eval answers DATASET [...]   (answers: see its --help)
    python -m rag_core.eval library DIR [...]       (page level, real files: see its --help)
    python -m rag_core.eval site generate|check|... (the site's own library: see its --help)

DATASET_DIR holds `corpus.jsonl` (_id, title, text), `queries.jsonl` (_id, text) and
`qrels/<split>.tsv` (query-id, corpus-id, score; `test`, else `dev`).  The corpus is
loaded into a database of its own on the appliance's server (never the library), once:
a later run with the same corpus, chunk settings and embedding backend reuses it.
Every judged query is run in every mode; recall@1/5/10, MRR@10 and nDCG@10 are over
documents (a document's rank is that of its best passage), latency is per query
including its embedding.
With RAG_RERANKER_MODEL_PATH set, `hybrid+rerank` (hybrid, then the cross-encoder)
is measured too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rag_core.db import Chunk, Database, Document, DocumentStatus, open_side_database
from rag_core.db.textsearch import searchable_title
from rag_core.eval.sides import half_of, side_name, vectors_key
from rag_core.extract import Page
from rag_core.ingestion.chunking import chunk_pages
from rag_core.search.embedding import Embedder
from rag_core.search.hits import Filters
from rag_core.search.retrieval import Mode, Retriever
from rag_core.settings import Settings

if TYPE_CHECKING:
    from rag_core.answers.expansion import ModelExpander

log = logging.getLogger(__name__)

CUTOFFS = (1, 5, 10)
RERANKED = "hybrid+rerank"  # hybrid, then the cross-encoder of RAG_RERANKER_MODEL_PATH
MODE_NAMES = (*(m.value for m in Mode), RERANKED)
_LOAD_BATCH = 256  # chunks embedded and inserted together


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> {corpus id: relevance}
    fingerprint: str  # changes when the corpus file does


def load_beir(folder: Path, split: str | None = None) -> BeirDataset:
    if split is None:
        split = "test" if (folder / "qrels" / "test.tsv").exists() else "dev"
    corpus: dict[str, tuple[str, str]] = {}
    for record in _jsonl(folder / "corpus.jsonl"):
        corpus[str(record["_id"])] = (record.get("title") or "", record.get("text") or "")
    queries = {str(r["_id"]): str(r["text"]) for r in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            if line_number == 0 and not fields[-1].lstrip("-").isdigit():
                continue  # header
            query_id, corpus_id, score = fields[0], fields[1], int(fields[2])
            if score > 0 and query_id in queries:
                qrels.setdefault(query_id, {})[corpus_id] = score
    stat = (folder / "corpus.jsonl").stat()
    fingerprint = hashlib.sha256(f"{stat.st_size}:{len(corpus)}".encode()).hexdigest()[:10]
    return BeirDataset(folder.resolve().name, corpus, queries, qrels, fingerprint)


def _read_queries(path: Path) -> list[str]:
    """The questions of a queries.jsonl (or of the one in a BEIR folder)."""
    if path.is_dir():
        path = path / "queries.jsonl"
    return [str(record["text"]) for record in _jsonl(path)]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


# --- metrics ------------------------------------------------------------------------


def document_ranking(chunk_documents: Sequence[str], k: int) -> list[str]:
    """Documents in the order of their best passage, at most k."""
    ranking: list[str] = []
    for document in chunk_documents:
        if document not in ranking:
            ranking.append(document)
            if len(ranking) == k:
                break
    return ranking


def query_metrics(ranking: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 (graded gains) of one ranked list."""
    metrics = {
        f"recall@{n}": sum(1 for d in ranking[:n] if d in relevant) / len(relevant) for n in CUTOFFS
    }
    first = next((i for i, d in enumerate(ranking[:10], start=1) if d in relevant), None)
    metrics["mrr@10"] = 1.0 / first if first else 0.0
    dcg = sum(relevant.get(d, 0) / math.log2(i + 1) for i, d in enumerate(ranking[:10], start=1))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(i + 1) for i, gain in enumerate(ideal, start=1))
    metrics["ndcg@10"] = dcg / idcg
    return metrics


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- loading the corpus -----------------------------------------------------------------


def database_name(dataset: BeirDataset, settings: Settings) -> str:
    key = f"{dataset.fingerprint}:{settings.chunk_tokens}:{settings.chunk_overlap_tokens}"
    if settings.embedding_backend != "torch":  # torch: the key of earlier runs, kept
        key += f":{vectors_key(settings)}"
    return side_name("eval", dataset.name, key, width=30)


def load_corpus(db: Database, embedder: Embedder, dataset: BeirDataset, settings: Settings) -> int:
    """Chunk, embed and store the corpus unless this database already holds it.
    Returns the number of chunks stored now (0 when reused)."""
    with db.session() as session:
        held = session.scalar(sa.select(sa.func.count(Document.id)).where(Document.is_active))
    if held == len(dataset.corpus):
        log.info("reusing the loaded corpus (%d documents)", held)
        return 0
    with db.session() as session:
        session.execute(sa.delete(Document))
    started = time.perf_counter()
    pending: list[tuple[str, str, list[Any]]] = []
    stored = 0
    for number, (corpus_id, (title, text)) in enumerate(dataset.corpus.items(), start=1):
        body = f"{title}\n\n{text}" if title else text
        chunks = chunk_pages(
            [Page(None, body)],
            embedder.count_tokens,
            settings.chunk_tokens,
            settings.chunk_overlap_tokens,
        )
        pending.append((corpus_id, title, chunks))
        if sum(len(c) for _, _, c in pending) >= _LOAD_BATCH or number == len(dataset.corpus):
            stored += _store(db, embedder, pending)
            pending = []
            rate = stored / (time.perf_counter() - started)
            print(
                f"\rloading corpus: {number}/{len(dataset.corpus)} documents, "
                f"{stored} chunks ({rate:.0f} chunks/s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    return stored


def _store(db: Database, embedder: Embedder, batch: list[tuple[str, str, list[Any]]]) -> int:
    texts = [chunk.text for _, _, chunks in batch for chunk in chunks]
    vectors = iter(embedder.embed(texts))
    with db.session() as session:
        for corpus_id, title, chunks in batch:
            document = Document(
                title=title or corpus_id,
                source_path=f"beir:{corpus_id}",
                content_hash=f"beir:{corpus_id}",
                metadata_={"corpus_id": corpus_id},
                status=DocumentStatus.READY,
                is_active=True,
            )
            session.add(document)
            session.flush()
            session.execute(
                sa.insert(Chunk),
                [
                    {
                        "document_id": document.id,
                        "chunk_index": chunk.index,
                        "text": chunk.text,
                        "heading": searchable_title(title),
                        "page_start": None,
                        "page_end": None,
                        "token_count": chunk.token_count,
                        "embedding": next(vectors),
                    }
                    for chunk in chunks
                ],
            )
    return len(texts)


# --- running the queries ------------------------------------------------------------------


def _corpus_ids(db: Database) -> dict[int, str]:
    """Document id -> the dataset's corpus id, for the loaded corpus."""
    with db.session() as session:
        return {
            row.id: row.corpus_id
            for row in session.execute(
                sa.select(Document.id, Document.metadata_["corpus_id"].astext.label("corpus_id"))
            )
        }


def evaluate(
    retriever: Retriever,
    dataset: BeirDataset,
    modes: Sequence[str],
    k: int,
    max_queries: int | None = None,
) -> dict[str, dict[str, float]]:
    """Mean metrics and latency per mode (a Mode's name, or RERANKED)."""
    corpus_of = _corpus_ids(retriever.db)
    judged = [q for q in dataset.queries if q in dataset.qrels][:max_queries]
    results: dict[str, dict[str, float]] = {}
    for name in modes:
        mode, rerank = (Mode.HYBRID, True) if name == RERANKED else (Mode(name), False)
        totals: dict[str, float] = {}
        halves: dict[str, list[float]] = {"a": [], "b": []}
        latencies = []
        for query_id in judged:
            started = time.perf_counter()
            # Passages, not documents, are ranked: ask for more to fill k documents.
            hits = retriever.search(
                dataset.queries[query_id], top_k=3 * k, mode=mode, rerank=rerank
            )
            latencies.append(time.perf_counter() - started)
            ranking = document_ranking([corpus_of[hit.document_id] for hit in hits], k)
            metrics = query_metrics(ranking, dataset.qrels[query_id])
            for metric, value in metrics.items():
                totals[metric] = totals.get(metric, 0.0) + value
            halves[half_of(query_id)].append(metrics["ndcg@10"])
        row = {metric: value / len(judged) for metric, value in totals.items()}
        for half, values in halves.items():  # tune on a, keep a change only if b agrees
            row[f"ndcg@10 {half}"] = sum(values) / len(values) if values else 0.0
        row["latency_p50_ms"] = 1000 * statistics.median(latencies)
        row["latency_p95_ms"] = 1000 * percentile(latencies, 0.95)
        row["queries"] = len(judged)
        results[name] = row
    return results


def abstention(
    retriever: Retriever,
    dataset: BeirDataset,
    floors: Sequence[float],
    max_queries: int | None = None,
    off_topic: Sequence[str] = (),
) -> list[dict[str, float]]:
    """How a relevance floor splits answerable from unanswerable questions.

    Each judged query is asked twice: as it is (answerable: its documents are there)
    and with its relevant documents hidden (unanswerable, and hard: the documents on
    the same topic are still there).  `off_topic` questions are about things the corpus
    does not cover at all (another dataset's queries).  A query abstains when no passage
    reaches the floor and none contains every word of it, as in the chat."""
    id_of = {corpus_id: document_id for document_id, corpus_id in _corpus_ids(retriever.db).items()}
    judged = [q for q in dataset.queries if q in dataset.qrels][:max_queries]
    answerable: list[tuple[float, bool]] = []
    unanswerable: list[tuple[float, bool]] = []
    for query_id in judged:
        text = dataset.queries[query_id]
        vector = retriever.embedder.embed_one(text)
        hidden = tuple(id_of[d] for d in dataset.qrels[query_id] if d in id_of)
        for filters, into in (
            (Filters(), answerable),
            (Filters(exclude_document_ids=hidden), unanswerable),
        ):
            hits = retriever.search_vector(text, vector, top_k=10, filters=filters)
            best = max((hit.score for hit in hits), default=-1.0)
            into.append((best, any(hit.text_match for hit in hits)))
    unrelated = [_best_evidence(retriever, text) for text in off_topic]
    rows = []
    for floor in floors:
        rows.append(
            {
                "floor": floor,
                "false_abstention": _abstains(answerable, floor),
                "abstention_unanswerable": _abstains(unanswerable, floor),
                **({"abstention_off_topic": _abstains(unrelated, floor)} if unrelated else {}),
            }
        )
    return rows


def _best_evidence(retriever: Retriever, question: str) -> tuple[float, bool]:
    hits = retriever.search(question, top_k=10)
    return max((hit.score for hit in hits), default=-1.0), any(hit.text_match for hit in hits)


def _abstains(outcomes: Sequence[tuple[float, bool]], floor: float) -> float:
    return sum(1 for best, match in outcomes if best < floor and not match) / len(outcomes)


def format_table(results: Mapping[str, Mapping[str, float]]) -> str:
    columns = [f"recall@{n}" for n in CUTOFFS] + ["mrr@10", "ndcg@10", "ndcg@10 a", "ndcg@10 b"]
    lines = [f"{'mode':<10}" + "".join(f"{c:>10}" for c in columns) + f"{'p50 ms':>9}{'p95 ms':>9}"]
    for mode, row in results.items():
        lines.append(
            f"{mode:<10}"
            + "".join(f"{row[c]:>10.3f}" for c in columns)
            + f"{row['latency_p50_ms']:>9.1f}{row['latency_p95_ms']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["answers"]:
        from rag_core.eval import answers as eval_answers

        return eval_answers.main(argv[1:])
    if argv[:1] == ["followups"]:
        from rag_core.eval import followups as eval_followups

        return eval_followups.main(argv[1:])
    if argv[:1] == ["site"]:
        from rag_core.eval import site as eval_site

        return eval_site.main(argv[1:])
    if argv[:1] == ["library"]:
        from rag_core.eval import library as eval_library

        return eval_library.main(argv[1:])
    return retrieval_main(argv)


def _print_results(
    dataset: BeirDataset,
    results: dict[str, dict[str, float]],
    abstaining: list[dict[str, float]],
    off_topic: int,
    expander: ModelExpander | None,
) -> None:
    queries = next(iter(results.values()))["queries"]
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {queries:.0f} judged queries")
    print(format_table(results))
    if expander is not None:
        print(f"weak queries searched again with the answer model's words: {expander.asked}")
    if abstaining:
        print(
            "\nrelevance floor: abstains on answerable / unanswerable (relevant hidden)"
            + (f" / off-topic ({off_topic} questions)" if off_topic else "")
        )
        for row in abstaining:
            print(
                f"  {row['floor']:.2f}: {row['false_abstention']:6.1%} / "
                f"{row['abstention_unanswerable']:6.1%}"
                + (f" / {row['abstention_off_topic']:6.1%}" if off_topic else "")
            )


def retrieval_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", type=Path, help="folder in the BEIR layout")
    parser.add_argument(
        "--modes",
        help=f"comma-separated: {', '.join(MODE_NAMES)} (default: all but {RERANKED}, "
        f"and {RERANKED} too when RAG_RERANKER_MODEL_PATH is set)",
    )
    parser.add_argument("--k", type=int, default=10, help="documents ranked per query")
    parser.add_argument("--split", help="qrels file to use (default: test, else dev)")
    parser.add_argument("--max-queries", type=int, help="only the first N judged queries")
    parser.add_argument(
        "--floors",
        help="also measure abstention at these relevance floors (comma-separated cosines)",
    )
    parser.add_argument(
        "--off-topic",
        type=Path,
        help="queries.jsonl of questions the corpus cannot answer (another dataset's), "
        "for the abstention figures",
    )
    parser.add_argument(
        "--expand",
        action="store_true",
        help="search weak queries again with the answer model's words, as the chat does "
        "(RAG_EXPAND_WEAK_QUESTIONS; starts the generation service)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.modes:
        modes = [name.strip() for name in args.modes.split(",")]
    else:
        modes = ["vector", "fulltext", "hybrid"]
        if settings.reranker_model_path:
            modes.append(RERANKED)
    if unknown := [name for name in modes if name not in MODE_NAMES]:
        parser.error(f"unknown mode {unknown[0]!r}; --modes takes {', '.join(MODE_NAMES)}")
    if RERANKED in modes and settings.reranker_model_path is None:
        parser.error(f"{RERANKED} needs RAG_RERANKER_MODEL_PATH (a cross-encoder folder)")
    if not (args.dataset / "corpus.jsonl").exists():
        parser.error(f"{args.dataset} has no corpus.jsonl (is it in the BEIR layout?)")

    from rag_core.access.phi_logs import configure_logging
    from rag_core.answers.expansion import ModelExpander
    from rag_core.services import (
        build_embedder,
        build_generator,
        build_reranker,
        build_resources,
        hnsw_index,
        retrieval_params,
    )

    configure_logging(settings)
    dataset = load_beir(args.dataset, args.split)
    db = open_side_database(
        settings.database_url,
        settings.data_dir,
        database_name(dataset, settings),
        settings.text_search_config,
        vector_index=hnsw_index(settings),
        build=build_resources(settings),
    )
    try:
        embedder = build_embedder(settings)
        load_corpus(db, embedder, dataset, settings)
        # No query cache: every mode's latency includes embedding the question.
        params = replace(retrieval_params(settings), query_cache_size=0)
        expander = ModelExpander(build_generator(settings)) if args.expand else None
        retriever = Retriever(db, embedder, params, build_reranker(settings), expander)
        results = evaluate(retriever, dataset, modes, args.k, args.max_queries)
        floors = [float(f) for f in args.floors.split(",")] if args.floors else []
        off_topic = _read_queries(args.off_topic)[: args.max_queries] if args.off_topic else []
        abstaining = (
            abstention(retriever, dataset, floors, args.max_queries, off_topic) if floors else []
        )
    finally:
        db.dispose()
    _print_results(dataset, results, abstaining, len(off_topic), expander)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "dataset": dataset.name,
            "documents": len(dataset.corpus),
            "k": args.k,
            "settings": {
                "candidates": settings.candidates,
                "rrf_k": settings.rrf_k,
                "rrf_vector_weight": settings.rrf_vector_weight,
                "rrf_text_weight": settings.rrf_text_weight,
                "hnsw_ef_search": settings.hnsw_ef_search,
                "vector_index": hnsw_index(settings).describe(),
                "chunk_tokens": settings.chunk_tokens,
            },
            "results": results,
            "abstention": abstaining,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0
