"""Benchmarks that print tables (and can write JSON); never run as timed assertions.

    python -m rag_core.bench [--quick] [--json OUT] BENCHMARK [options]

    embed     chunks/s by embedding backend and batch size, with agreement to torch
    ingest    pages/s and chunks/s of a folder of PDFs end to end, against a naive
              baseline (torch one chunk at a time, one ORM insert per chunk), with the
              time of each stage and the share of the embedding rate reached
    retrieve  p50/p95 latency and recall@10 against exact search at 10k / 100k / 1M
              synthetic chunks, for several HNSW index settings
    search    p50/p95 of the appliance's hybrid and full-text search statement at 100k
              passages of real text, BM25 against ts_rank
    answer    quotes, first written sentence and complete answer, idle and mid-ingest
    drop      drop-folder to searchable time of PDFs
    workers   throughput of several worker processes
    ocr       character error rate and pages/s of text recognition on scanned pages
    formats   one office, web and e-mail file of each type read and ingested end to end
    api       search p95 through the HTTP API against in-process, and many people
              asking at once (every answer back, each its own)
    all       embed, ingest, retrieve, search and answer

--quick shrinks every benchmark to seconds (CI runs it); the defaults are the full
runs behind the README's figures, except `retrieve`, whose 1M size is asked for with
`--sizes 10000,100000,1000000` (not yet timed on 2 cores; the 100k size takes about
5 minutes).  Texts are real scientific abstracts from SciFact
(../shared/eval/scifact-dev; where that is missing, the committed
eval/manpages-smoke; or --corpus PATH); PDFs are written from them with fpdf2
(requirements-dev.txt).  Every benchmark that writes runs on a throw-away embedded
PostgreSQL in a temporary folder, except `retrieve` and `search`, which keep their
libraries in side databases.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rag_core.bench.common import DEFAULT_CORPUS, write_json
from rag_core.settings import Settings


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl to take texts from"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    sub = parser.add_subparsers(dest="benchmark", required=True)
    embed = sub.add_parser("embed", help="embedding chunks/s by backend and batch size")
    embed.add_argument("--chunks", type=int, default=512)
    embed.add_argument("--batch-sizes", default="8,16,32")
    embed.add_argument("--backends", default="onnx-int8,torch")
    ingest = sub.add_parser("ingest", help="a folder of PDFs end to end vs a naive baseline")
    ingest.add_argument("--folder", type=Path, help="PDFs to ingest (default: written)")
    ingest.add_argument("--pages", type=int, default=20)
    ingest.add_argument("--files", type=int, default=5)
    retrieve = sub.add_parser("retrieve", help="latency and recall by library size and index")
    retrieve.add_argument("--sizes", default="10000,100000")
    retrieve.add_argument("--queries", type=int, default=200)
    retrieve.add_argument("--ef-search", default="40,80,200")
    retrieve.add_argument("--more-indexes", action="store_true", help="also m=24")
    search = sub.add_parser("search", help="hybrid and full-text search latency, real text")
    search.add_argument("--sizes", default="100000")
    search.add_argument("--queries", type=int, default=200)
    answer = sub.add_parser("answer", help="answer times, idle and during an ingest")
    answer.add_argument("--questions", type=int, default=6)
    answer.add_argument(
        "--ingest-nice", default="10", help="nice levels of the ingest beside, e.g. 0,10,19"
    )
    answer.add_argument(
        "--beside-check",
        action="store_true",
        help="also ask while the site's quality worker checks cases with the model writing",
    )
    drop = sub.add_parser("drop", help="drop-to-searchable time of PDFs")
    drop.add_argument("--pages", type=int, default=20)
    drop.add_argument("--files", type=int, default=5)
    workers = sub.add_parser("workers", help="throughput of several worker processes")
    workers.add_argument("--pages", type=int, default=20)
    workers.add_argument("--files", type=int, default=10)
    workers.add_argument("--workers", default="1,2", help="worker counts to compare")
    ocr = sub.add_parser("ocr", help="text recognition: error rate and pages/s")
    ocr.add_argument("--pages", type=int, default=8)
    formats = sub.add_parser("formats", help="one file of each office type end to end")
    formats.add_argument("--units", type=int, default=300, help="paragraphs a document")
    api = sub.add_parser("api", help="HTTP API: search overhead and concurrent askers")
    api.add_argument("--files", type=int, default=5, help="10-page PDFs in the library")
    api.add_argument("--queries", type=int, default=200)
    api.add_argument("--askers", type=int, default=20)
    sub.add_parser("all", help="embed, ingest, retrieve and answer, default options")
    return parser


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from rag_core.bench.answer import bench_answer
    from rag_core.bench.embed import bench_embed
    from rag_core.bench.ingest import bench_drop, bench_ingest, bench_workers
    from rag_core.bench.retrieve import bench_retrieve
    from rag_core.bench.search import bench_search

    quick = args.quick
    name = args.benchmark
    if name == "embed":
        return bench_embed(
            settings,
            args.corpus,
            32 if quick else args.chunks,
            [16] if quick else _ints(args.batch_sizes),
            args.backends.split(","),
        )
    if name == "ingest":
        pages, files = (2, 2) if quick else (args.pages, args.files)
        return bench_ingest(settings, args.corpus, args.folder, pages, files)
    if name == "retrieve":
        return bench_retrieve(
            settings,
            [2000] if quick else _ints(args.sizes),
            20 if quick else args.queries,
            [40] if quick else _ints(args.ef_search),
            args.more_indexes,
        )
    if name == "search":
        return bench_search(
            settings,
            args.corpus,
            [2000] if quick else _ints(args.sizes),
            20 if quick else args.queries,
        )
    if name == "answer":
        nices = _ints(getattr(args, "ingest_nice", "10"))
        count = 1 if quick else args.questions
        return bench_answer(
            settings, args.corpus, count, nices, getattr(args, "beside_check", False)
        )
    if name == "drop":
        pages, files = (2, 1) if quick else (args.pages, args.files)
        return bench_drop(settings, args.corpus, pages, files)
    if name == "ocr":
        from rag_core.bench.ocr import bench_ocr

        return bench_ocr(args.corpus, 1 if quick else args.pages, settings.ocr_languages)
    if name == "api":
        from rag_core.bench.api import bench_api

        if quick:
            return bench_api(settings, args.corpus, 1, 10, 3)
        return bench_api(settings, args.corpus, args.files, args.queries, args.askers)
    if name == "formats":
        from rag_core.bench.formats import bench_formats

        return bench_formats(settings, args.corpus, 6 if quick else args.units)
    if name == "workers":
        return bench_workers(args.corpus, args.pages, args.files, _ints(args.workers))
    results = []
    for each in ("embed", "ingest", "retrieve", "search", "answer"):
        flags = ["--corpus", str(args.corpus), *(["--quick"] if quick else [])]
        results.append(run(_parser().parse_args([*flags, each]), settings))
    return {"benchmark": "all", "results": results}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.corpus.is_file():
        print(f"error: no corpus at {args.corpus}; pass --corpus PATH to a BEIR corpus.jsonl")
        return 2
    result = run(args, Settings())
    if args.json:
        write_json(args.json, result)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
