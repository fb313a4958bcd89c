"""Fused passages -> re-ordered by a cross-encoder, when a site has installed one.

A cross-encoder reads the question and each passage together, which ranks better than
comparing two embeddings, at a price of ~10 ms per passage on a CPU.  No such model
ships with the appliance (none is packaged on PyPI), so re-ranking is off until
RAG_RERANKER_MODEL_PATH names a local sentence-transformers CrossEncoder folder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.errors import ModelNotFound

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from rag_core.search.hits import Hit

log = logging.getLogger(__name__)


class Reranker:
    """Thread-safe, lazily loaded cross-encoder from a local folder."""

    def __init__(self, model_path: Path, batch_size: int = 16) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                if not (self.model_path / "config.json").is_file():
                    raise ModelNotFound(
                        f"Re-ranking model not found at {self.model_path} (no config.json). "
                        "Set RAG_RERANKER_MODEL_PATH to a cross-encoder folder, or leave "
                        "it empty to search without re-ranking."
                    )
                from sentence_transformers import CrossEncoder

                log.info("loading re-ranking model from %s", self.model_path)
                self._model = CrossEncoder(str(self.model_path), device="cpu")
            return self._model

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        pairs = [(query, text) for text in texts]
        values = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return [float(v) for v in values]

    def rerank(self, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
        """The `top_k` best of `hits` by the cross-encoder; `fused_score` becomes its
        score (the cosine `score`, which the relevance floor reads, is kept)."""
        scored = zip(self.scores(query, [h.text for h in hits]), hits, strict=True)
        ranked = sorted(scored, key=lambda pair: pair[0], reverse=True)[:top_k]
        return [replace(hit, fused_score=score) for score, hit in ranked]
