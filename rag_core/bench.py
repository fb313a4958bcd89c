"""Benchmarks that print figures (and can write JSON); never run as timed assertions.

    python -m rag_core.bench embed [--chunks 512] [--batch-sizes 16,32,64]
    python -m rag_core.bench drop  [--pages 20] [--files 5]
    python -m rag_core.bench workers [--pages 20] [--files 10] [--workers 1,2]

Texts are real scientific abstracts from the SciFact corpus (../shared/eval/scifact-dev,
or --corpus PATH).  `drop` and `workers` run on a throw-away embedded PostgreSQL in a
temporary folder and need fpdf2 (requirements-dev.txt) to write their PDFs.
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


def write_pdfs(folder: Path, corpus: Path, pages: int, files: int) -> list[Path]:
    """`files` PDFs of `pages` pages, two abstracts a page."""
    from fpdf import FPDF

    texts = corpus_texts(corpus)
    pdfs = []
    for number in range(files):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=10)
        for _ in range(pages):
            pdf.add_page()
            body = "\n\n".join(next(texts) for _ in range(2))
            pdf.multi_cell(0, 5, body.encode("latin-1", "replace").decode("latin-1"))
        path = folder / f"report_{number}.pdf"
        pdf.output(str(path))
        pdfs.append(path)
    return pdfs


def bench_drop(settings: Settings, corpus: Path, pages: int, files: int) -> dict[str, Any]:
    """Time from a PDF landing in the drop folder (written elsewhere, then moved in, as
    a finished copy) to its passages being returned by search."""
    from ingest_watch.watcher import Watcher, serve
    from ingest_watch.worker import Worker
    from rag_core.services import build_services

    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    run_settings = settings.model_copy(
        update={"database_url": None, "data_dir": work / "data", "drop_dir": work / "drop"}
    )
    services = build_services(run_settings)
    services.embedder.embed(["warm up"])  # a running watcher has its model loaded
    pdfs = write_pdfs(work, corpus, pages, files)

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


def bench_workers(corpus: Path, pages: int, files: int, worker_counts: list[int]) -> dict[str, Any]:
    """Throughput of 1, 2, … `python -m ingest_watch` processes (one watching, the others
    `--no-watch`) on `files` PDFs dropped at once, timed from the drop to the last one
    ready, with every process started and its model loaded beforehand."""
    import os
    import signal
    import subprocess
    import sys

    import sqlalchemy as sa

    from rag_core.db import Document, open_database

    rows = []
    for count in worker_counts:
        work = Path(tempfile.mkdtemp(prefix="rag-bench-workers-"))
        (work / "drop").mkdir()
        pdfs = write_pdfs(work, corpus, pages, files)
        env = {
            key: value
            for key, value in os.environ.items()
            if key != "DATABASE_URL" and not key.startswith("RAG_")
        }
        env.update(
            {
                "RAG_DATA_DIR": str(work / "data"),
                "RAG_DROP_DIR": str(work / "drop"),
                "RAG_MODELS_DIR": str(Settings().models_dir),
            }
        )
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        db = open_database(None, work / "data", Settings().database_name)
        logs = [work / f"worker{i}.log" for i in range(count)]
        processes = []
        for i, log_path in enumerate(logs):
            command = [sys.executable, "-m", "ingest_watch"] + ([] if i == 0 else ["--no-watch"])
            with log_path.open("w") as log_file:
                processes.append(
                    subprocess.Popen(
                        command, env=env, cwd=work, stdout=log_file, stderr=subprocess.STDOUT
                    )
                )
        try:
            markers = ("watching", "working through the job queue")
            while not all(any(m in path.read_text() for m in markers) for path in logs):
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError(f"a worker exited; see {work}")
                time.sleep(0.2)
            started = time.perf_counter()
            for path in pdfs:
                path.rename(work / "drop" / path.name)
            done = sa.select(sa.func.count(Document.id)).where(
                Document.status.in_(["ready", "failed"])
            )
            while True:
                with db.session() as session:
                    if session.scalar(done) == files:
                        failed = session.scalar(
                            sa.select(sa.func.count(Document.id)).where(Document.status == "failed")
                        )
                        break
                time.sleep(0.1)
            if failed:
                raise RuntimeError(f"{failed} files failed; see the logs in {work}")
            seconds = time.perf_counter() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            db.dispose()
        shares = [path.read_text().count(" ingested ") for path in logs]
        rows.append(
            {
                "workers": count,
                "files": files,
                "pages": files * pages,
                "seconds": round(seconds, 2),
                "pages_per_s": round(files * pages / seconds, 2),
                "files_per_worker": shares,
            }
        )
    print(f"{files} PDFs of {pages} pages dropped at once; from the drop to all ready")
    print(f"{'workers':>8} {'seconds':>8} {'pages/s':>8}  files per worker")
    for row in rows:
        print(
            f"{row['workers']:>8} {row['seconds']:>8} {row['pages_per_s']:>8}  "
            f"{row['files_per_worker']}"
        )
    return {"benchmark": "workers", "runs": rows}


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
    workers = sub.add_parser("workers", help="throughput of several worker processes")
    workers.add_argument("--pages", type=int, default=20)
    workers.add_argument("--files", type=int, default=10)
    workers.add_argument("--workers", default="1,2", help="worker counts to compare")
    args = parser.parse_args(argv)

    settings = Settings()
    if args.benchmark == "embed":
        sizes = [int(size) for size in args.batch_sizes.split(",")]
        result = bench_embed(settings, args.corpus, args.chunks, sizes)
    elif args.benchmark == "workers":
        counts = [int(count) for count in args.workers.split(",")]
        result = bench_workers(args.corpus, args.pages, args.files, counts)
    else:
        result = bench_drop(settings, args.corpus, args.pages, args.files)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
