"""Benchmarks that print figures (and can write JSON); never run as timed assertions.

    python -m rag_core.bench embed [--chunks 512] [--batch-sizes 16,32,64]
    python -m rag_core.bench drop  [--pages 20] [--files 5]

Texts are real scientific abstracts from the SciFact corpus (../shared/eval/scifact-dev,
or --corpus PATH).  `drop` runs on a throw-away embedded PostgreSQL in a temporary
folder and needs fpdf2 (requirements-dev.txt) to write its PDFs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag_core.settings import Settings

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/eval/scifact-dev/corpus.jsonl"


def corpus_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            yield f"{record['title']}\n\n{record['text']}"


def bench_embed(
    settings: Settings, corpus: Path, chunks: int, batch_sizes: list[int]
) -> dict[str, Any]:
    from rag_core.services import build_embedder

    texts: list[str] = []
    for text in corpus_texts(corpus):
        texts.extend(text[i : i + 500] for i in range(0, len(text) - 250, 500))
        if len(texts) >= chunks:
            break
    texts = texts[:chunks]
    embedder = build_embedder(settings)
    started = time.perf_counter()
    embedder.embed(texts[:8])  # load and warm up
    load_seconds = time.perf_counter() - started
    rows = []
    for batch_size in batch_sizes:
        embedder.batch_size = batch_size
        started = time.perf_counter()
        embedder.embed(texts)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "batch_size": batch_size,
                "chunks": len(texts),
                "seconds": round(seconds, 2),
                "chunks_per_s": round(len(texts) / seconds, 1),
            }
        )
    print(f"embedding model load + warm-up: {load_seconds:.1f} s; chunks of 500 characters")
    print(f"{'batch':>6} {'chunks':>7} {'seconds':>8} {'chunks/s':>9}")
    for row in rows:
        size, count, secs, rate = (
            row["batch_size"],
            row["chunks"],
            row["seconds"],
            row["chunks_per_s"],
        )
        print(f"{size:>6} {count:>7} {secs:>8} {rate:>9}")
    return {"benchmark": "embed", "load_seconds": round(load_seconds, 2), "runs": rows}


def bench_drop(settings: Settings, corpus: Path, pages: int, files: int) -> dict[str, Any]:
    """Time from a PDF landing in the drop folder (written elsewhere, then moved in, as
    a finished copy) to its passages being returned by search."""
    from fpdf import FPDF

    from ingest_watch.watcher import Watcher, serve
    from ingest_watch.worker import Worker
    from rag_core.services import build_services

    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    run_settings = settings.model_copy(
        update={"database_url": None, "data_dir": work / "data", "drop_dir": work / "drop"}
    )
    services = build_services(run_settings)
    services.embedder.embed(["warm up"])  # a running watcher has its model loaded
    texts = corpus_texts(corpus)
    pdfs = []
    for number in range(files):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        for _ in range(pages):
            pdf.add_page()
            body = "\n\n".join(next(texts) for _ in range(2))
            pdf.multi_cell(0, 5, body.encode("latin-1", "replace").decode("latin-1"))
        path = work / f"report_{number}.pdf"
        pdf.output(str(path))
        pdfs.append(path)

    drop = run_settings.drop_dir
    drop.mkdir(parents=True)
    watcher = Watcher(
        services.queue, services.catalog, drop, stable_seconds=run_settings.watch_stable_seconds
    )
    stop = threading.Event()
    worker = Worker(services.queue, services.ingestor)
    thread = threading.Thread(
        target=serve, args=(watcher, worker, stop, run_settings.watch_poll_seconds), daemon=True
    )
    thread.start()
    rows: list[dict[str, Any]] = []
    try:
        for path in pdfs:
            started = time.perf_counter()
            path.rename(drop / path.name)
            while services.catalog.status_counts().ready < len(rows) + 1:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            chunks = services.catalog.status_counts().chunks
            rows.append({"file": path.name, "pages": pages, "seconds": round(seconds, 2)})
    finally:
        stop.set()
        thread.join()
        services.close()
    durations = [float(row["seconds"]) for row in rows]
    print(
        f"drop → searchable, {pages}-page PDFs, quiet period "
        f"{run_settings.watch_stable_seconds} s, {chunks} chunks in all"
    )
    for row in rows:
        print(f"  {row['file']}: {row['seconds']} s")
    print(
        f"p50 {statistics.median(durations):.2f} s, max {max(durations):.2f} s "
        f"(of which {run_settings.watch_stable_seconds} s is the quiet period)"
    )
    return {
        "benchmark": "drop",
        "quiet_period_s": run_settings.watch_stable_seconds,
        "p50_s": statistics.median(durations),
        "runs": rows,
        "chunks_total": chunks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="BEIR corpus.jsonl to take texts from"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    sub = parser.add_subparsers(dest="benchmark", required=True)
    embed = sub.add_parser("embed", help="embedding chunks/s by batch size")
    embed.add_argument("--chunks", type=int, default=512)
    embed.add_argument("--batch-sizes", default="16,32,64")
    drop = sub.add_parser("drop", help="drop-to-searchable time of PDFs")
    drop.add_argument("--pages", type=int, default=20)
    drop.add_argument("--files", type=int, default=5)
    args = parser.parse_args(argv)

    settings = Settings()
    if args.benchmark == "embed":
        sizes = [int(size) for size in args.batch_sizes.split(",")]
        result = bench_embed(settings, args.corpus, args.chunks, sizes)
    else:
        result = bench_drop(settings, args.corpus, args.pages, args.files)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
