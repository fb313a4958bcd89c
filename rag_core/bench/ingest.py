"""Ingestion benchmarks: `ingest` (a folder of PDFs end to end, against a naive
baseline), `drop` (drop-folder to searchable) and `workers` (several worker processes)."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from typing_extensions import override

from rag_core.bench.common import print_table, sample_chunks, scratch_settings, write_pdfs
from rag_core.db import Chunk, Database, Document
from rag_core.db.bulk import ChunkRow
from rag_core.ingestion.ingest import Ingestor
from rag_core.ingestion.records import Records
from rag_core.ingestion.results import IngestOptions, Outcome
from rag_core.search.embedding import Embedder, passage_in_context
from rag_core.settings import Settings


class NaiveRecords(Records):
    """The baseline's storing: one ORM insert (and round trip) per chunk."""

    @override
    def write_chunks(self, session: Session, rows: Iterable[ChunkRow]) -> None:
        for row in rows:
            session.add(Chunk(**vars(row)))
            session.flush()


class NaiveIngestor(Ingestor):
    """The baseline: the appliance's steps, storing through `NaiveRecords`."""

    def __init__(self, db: Database, embedder: Embedder, options: IngestOptions) -> None:
        super().__init__(db, embedder, options)
        self.records = NaiveRecords(db, options)


def bench_ingest(
    settings: Settings, corpus: Path, folder: Path | None, pages: int, files: int
) -> dict[str, Any]:
    """A folder of PDFs ingested end to end (extract, chunk, embed, write), by the
    appliance as configured and by a naive baseline: torch embeddings one chunk at a
    time and one ORM insert per chunk.  Each runs on a fresh embedded database."""
    from rag_core.services import build_embedder, build_services

    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="rag-bench-pdfs-"))
        write_pdfs(folder, corpus, pages, files)
    naive_settings = settings.model_copy(
        update={"embedding_backend": "torch", "embedding_batch_size": 1}
    )
    variants = [
        ("naive: torch, 1 chunk a batch, insert per chunk", naive_settings, NaiveIngestor),
        (
            f"appliance: {settings.embedding_backend}, batch {settings.embedding_batch_size}, COPY",
            settings,
            Ingestor,
        ),
    ]
    rows: list[dict[str, Any]] = []
    for label, variant, ingestor_class in variants:
        scratch = scratch_settings(variant, "rag-bench-ingest-")
        embedder = build_embedder(scratch)
        embedder.embed(["warm up"])  # a running worker has its model loaded
        services = build_services(scratch, embedder=embedder)
        ingestor = ingestor_class(services.db, embedder, services.ingestor.options)
        try:
            started = time.perf_counter()
            results = list(ingestor.ingest_paths([folder]))
            seconds = time.perf_counter() - started
            passages = _sample_passages(services.db, 1024)
        finally:
            services.close()
        failed = [r for r in results if r.outcome != Outcome.INGESTED]
        if failed:
            raise RuntimeError(f"{len(failed)} files were not ingested: {failed[0].line()}")
        page_count = sum(r.pages for r in results)
        chunk_count = sum(r.chunks for r in results)
        stages = {
            stage: round(sum(r.stages.get(stage, 0.0) for r in results), 2)
            for stage in ("extract", "chunk", "embed", "write")
        }
        rows.append(
            {
                "variant": label,
                "files": len(results),
                "pages": page_count,
                "chunks": chunk_count,
                "seconds": round(seconds, 2),
                "pages_per_s": round(page_count / seconds, 2),
                "chunks_per_s": round(chunk_count / seconds, 1),
                **{f"{stage}_s": value for stage, value in stages.items()},
            }
        )
    columns = ["variant", "pages", "chunks", "seconds", "pages_per_s", "chunks_per_s"]
    columns += ["extract_s", "chunk_s", "embed_s", "write_s"]
    print_table(f"ingest: every PDF in {folder}, end to end", rows, columns)
    print(
        "Stage seconds are each stage's own work. In the appliance, extract and chunk "
        "run ahead of\nembedding (reader process and thread) and write runs behind it "
        "(writer thread), so they overlap it."
    )
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"appliance vs naive: {speedup:.1f}x faster")
    # The bounds: the same embedder alone, this run, on `bench embed`'s 500-character
    # chunks and on a sample of the passages this run stored (which are longer: up to
    # chunk_tokens and the title and section line embedded with each).
    bound = _embedding_rate(embedder, sample_chunks(corpus, 512))
    own_bound = _embedding_rate(embedder, passages)
    rate = rows[1]["chunks_per_s"]
    share, own_share = rate / bound, rate / own_bound
    print(
        f"appliance: {rate} chunks/s end to end = {share:.0%} of the embedding rate "
        f"({bound:.1f} chunks/s of 500-character chunks, same run)\n"
        f"           = {own_share:.0%} of the embedding rate of its own passages "
        f"({own_bound:.1f} chunks/s, {len(passages)} of them embedded alone)\n"
    )
    return {
        "benchmark": "ingest",
        "folder": str(folder),
        "runs": rows,
        "speedup": speedup,
        "embedding_chunks_per_s": round(bound, 1),
        "share_of_embedding_rate": round(share, 3),
        "own_passages_chunks_per_s": round(own_bound, 1),
        "share_of_own_passages_rate": round(own_share, 3),
    }


def _sample_passages(db: Database, count: int) -> list[str]:
    """Up to `count` stored passages, as they were embedded (title and section line
    first); a fixed sample, so runs compare."""
    query = (
        sa.select(Document.title, Chunk.section, Chunk.text)
        .join(Document, Document.id == Chunk.document_id)
        .order_by(sa.func.md5(sa.cast(Chunk.id, sa.Text)))
        .limit(count)
    )
    with db.session() as session:
        return [passage_in_context(*row) for row in session.execute(query)]


def _embedding_rate(embedder: Embedder, texts: list[str]) -> float:
    """Texts a second, embedded in one call (the embedder's batches)."""
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def bench_drop(settings: Settings, corpus: Path, pages: int, files: int) -> dict[str, Any]:
    """Time from a PDF landing in the drop folder (written elsewhere, then moved in, as
    a finished copy) to its passages being returned by search."""
    from ingest_watch.watcher import Watcher, serve
    from ingest_watch.worker import Worker
    from rag_core.services import build_services

    run_settings = scratch_settings(settings, "rag-bench-drop-")
    work = run_settings.drop_dir.parent
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
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # the project
        db = open_database(None, work / "data", Settings().database_name)
        logs = [work / f"worker{i}.log" for i in range(count)]
        processes = []
        for i, log_path in enumerate(logs):
            # Exactly `count` processes: the first runs no helpers of its own.
            command = [sys.executable, "-m", "ingest_watch"]
            command += ["--workers", "1"] if i == 0 else ["--no-watch"]
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
