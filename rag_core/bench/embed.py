"""`embed`: chunks/s of each embedding backend by batch size, and how closely each
backend's vectors agree with sentence-transformers on torch (the reference)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.bench.common import print_table, sample_chunks
from rag_core.search.embedding import Backend
from rag_core.settings import Settings


def bench_embed(
    settings: Settings,
    corpus: Path,
    chunks: int,
    batch_sizes: list[int],
    backends: list[Backend],
) -> dict[str, Any]:
    from rag_core.services import build_embedder

    texts = sample_chunks(corpus, chunks)
    reference: np.ndarray | None = None
    rows: list[dict[str, Any]] = []
    for backend in ["torch", *[b for b in backends if b != "torch"]]:
        embedder = build_embedder(settings.model_copy(update={"embedding_backend": backend}))
        started = time.perf_counter()
        embedder.embed(texts[:8])  # load (and export, the first time) and warm up
        load_seconds = time.perf_counter() - started
        for batch_size in batch_sizes:
            if backend == "torch" and backend not in backends and reference is not None:
                break  # torch only as the reference
            embedder.batch_size = batch_size
            started = time.perf_counter()
            vectors = embedder.embed(texts)
            seconds = time.perf_counter() - started
            if reference is None:
                reference = vectors
            agreement = np.sum(vectors * reference, axis=1)
            rows.append(
                {
                    "backend": backend,
                    "batch": batch_size,
                    "chunks": len(texts),
                    "seconds": round(seconds, 2),
                    "chunks_per_s": round(len(texts) / seconds, 1),
                    "cosine_mean": round(float(agreement.mean()), 4),
                    "cosine_min": round(float(agreement.min()), 4),
                    "load_s": round(load_seconds, 1),
                }
            )
    columns = ["backend", "batch", "chunks", "seconds", "chunks_per_s"]
    columns += ["cosine_mean", "cosine_min", "load_s"]
    print_table(
        "embed: chunks of 500 characters; cosine = agreement with torch's vectors",
        rows,
        columns,
    )
    best = {
        backend: max((r for r in rows if r["backend"] == backend), key=lambda r: r["chunks_per_s"])
        for backend in {r["backend"] for r in rows}
    }
    if "torch" in best and len(best) > 1:
        for backend, row in best.items():
            if backend != "torch":
                ratio = row["chunks_per_s"] / best["torch"]["chunks_per_s"]
                print(f"{backend} vs torch, best batch of each: {ratio:.2f}x\n")
    return {"benchmark": "embed", "runs": rows}
