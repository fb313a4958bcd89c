"""The int8 ONNX embedding backend against sentence-transformers on torch, its export
folder, and the binary COPY that writes chunks."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from rag_core.db import Chunk, Document, DocumentStatus, open_database
from rag_core.db.bulk import ChunkRow, copy_chunks
from rag_core.errors import ModelMismatch
from rag_core.search.embedding import Backend, Embedder
from rag_core.search.onnx_embedding import MANIFEST, ModelLayout, ensure_export
from rag_core.settings import Settings

TEXTS = [
    "Section 7. Termination. Either party may terminate this agreement by giving ninety "
    "days written notice to the other party.",
    "Vitamin D supplementation did not reduce the incidence of fractures in older adults.",
    "The patient was discharged on day three with oral antibiotics.",
    "Résumé: la période de préavis est de quatre-vingt-dix jours.",
    "x",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way
]


@pytest.mark.models
def test_onnx_int8_agrees_with_torch(embedder: Embedder) -> None:
    assert embedder.backend == "onnx-int8"
    reference = Embedder(embedder.model_path, backend="torch")
    fast = embedder.embed(TEXTS)
    slow = reference.embed(TEXTS)
    assert fast.shape == slow.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, rtol=1e-5)
    agreement = np.sum(fast * slow, axis=1)
    assert agreement.min() > 0.97, agreement
    # Each text is still nearest to its own torch vector.
    assert (np.argmax(fast @ slow.T, axis=1) == np.arange(len(TEXTS))).all()
    assert embedder.count_tokens(TEXTS) == reference.count_tokens(TEXTS)
    assert embedder.max_tokens == reference.max_tokens == 256
    # Activations are quantized per batch, so batch mates move a vector a little, and
    # only a little: a question (embedded alone) still meets its passage (in a batch).
    alone = embedder.embed([TEXTS[2]])[0]
    assert float(alone @ fast[2]) > 0.98


@pytest.mark.models
@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_passages_are_counted_while_others_are_embedded(
    embedder: Embedder, backend: Backend
) -> None:
    """`ingest_paths` cuts the next file into passages (counting tokens) while this
    one is embedded.  One shared fast tokenizer switched between counting (no padding)
    and encoding (padding) from two threads broke the encoding's batch."""
    shared = embedder if backend == "onnx-int8" else Embedder(embedder.model_path)
    texts = ["word " * (3 + 5 * i) for i in range(8)]
    expected = shared.count_tokens(texts)
    failures: list[str] = []
    counted: list[list[int]] = []
    done = threading.Event()

    def count() -> None:
        try:
            while not done.is_set():
                counted.append(shared.count_tokens(texts))
        except Exception as exc:  # reported by the assertion below
            failures.append(repr(exc))

    thread = threading.Thread(target=count)
    thread.start()
    try:
        for _ in range(60):
            vectors = shared.embed(texts)
            assert vectors.shape == (len(texts), 384)
    except Exception as exc:
        failures.append(repr(exc))
    done.set()
    thread.join()
    assert failures == []
    assert all(c == expected for c in counted)


@pytest.mark.models
def test_export_is_reused_and_redone_when_stale(embedder: Embedder, tmp_path: Path) -> None:
    embedder.embed(["load"])  # the session's export exists now
    copy = tmp_path / "export"
    shutil.copytree(embedder.export_dir, copy)
    model_file = copy / "model.int8.onnx"
    before = model_file.stat().st_mtime_ns
    assert ensure_export(embedder.model_path, copy) == copy
    assert model_file.stat().st_mtime_ns == before  # same weights: not exported again

    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["weights"] = {"model.safetensors": 1}  # as if the model had been replaced
    (copy / MANIFEST).write_text(json.dumps(manifest))
    ensure_export(embedder.model_path, copy)
    assert model_file.stat().st_mtime_ns != before
    assert json.loads((copy / MANIFEST).read_text())["weights"] != {"model.safetensors": 1}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.models
def test_a_pipeline_with_dense_layers_and_prompts_is_exported_whole_and_cut_to_384(
    embedder: Embedder, tmp_path: Path
) -> None:
    """EmbeddingGemma's layout (pooling, then dense layers, then normalisation; prompts
    for questions and passages; longer vectors cut to the database's 384), built here
    on MiniLM's transformer with a dense layer of 512 outputs.  The whole pipeline is
    exported and agrees with sentence-transformers on torch."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    torch.manual_seed(7)
    transformer = Transformer(str(embedder.model_path), max_seq_length=256)
    size = transformer.get_embedding_dimension()
    dense = Dense(size, 512, bias=False, activation_function=torch.nn.Identity())
    model = SentenceTransformer(modules=[transformer, Pooling(size, "mean"), dense, Normalize()])
    model.prompts = {"query": "query: ", "document": "passage: "}
    folder = tmp_path / "dense-model"
    model.save(str(folder))
    assert ModelLayout.read(folder).pipeline

    fast = Embedder(folder, backend="onnx-int8", export_dir=tmp_path / "export", truncate=True)
    assert fast.prompts.query == "query: " and fast.prompts.document == "passage: "
    passages = fast.embed(TEXTS[:4])
    question = fast.embed_one(TEXTS[0])
    assert passages.shape == (4, 384) and question.shape == (384,)
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, rtol=1e-5)

    def reference(texts: list[str]) -> np.ndarray:
        full = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)[:, :384]
        cut: np.ndarray = full / np.linalg.norm(full, axis=1, keepdims=True)
        return cut

    agreement = np.sum(passages * reference(["passage: " + t for t in TEXTS[:4]]), axis=1)
    assert agreement.min() > 0.97, agreement
    assert float(question @ reference(["query: " + TEXTS[0]])[0]) > 0.97
    # The prompt is part of the input: the question's vector is not the passage's.
    assert float(question @ passages[0]) < 0.999
    # Without `truncate`, a model of other dimensions is refused, not silently cut.
    with pytest.raises(ModelMismatch, match="512-dimensional"):
        Embedder(folder, backend="onnx-int8", export_dir=tmp_path / "export").embed(["x"])


def test_unsupported_pooling_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(
        json.dumps([{"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    )
    (tmp_path / "1_Pooling/config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True})
    )
    with pytest.raises(ModelMismatch, match="RAG_EMBEDDING_BACKEND=torch"):
        ModelLayout.read(tmp_path)


def test_copy_writes_chunks_exactly(settings: Settings) -> None:
    db = open_database(settings.database_url, settings.data_dir, settings.database_name)
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    with db.session() as session:
        document = Document(
            title="t", source_path="/t", content_hash="h", status=DocumentStatus.READY
        )
        session.add(document)
        session.flush()
        written = copy_chunks(
            session,
            (
                ChunkRow(document.id, i, f"text {i} ünïcode\ttab", "t", "", i or None, i, 3, v)
                for i, v in enumerate(vectors)
            ),
        )
    assert written == 50
    with db.session() as session:
        rows = session.scalars(sa.select(Chunk).order_by(Chunk.chunk_index)).all()
    db.dispose()
    assert [r.text for r in rows] == [f"text {i} ünïcode\ttab" for i in range(50)]
    assert rows[0].page_start is None and rows[1].page_start == 1
    np.testing.assert_allclose(np.array([r.embedding for r in rows]), vectors, rtol=1e-6)
    assert all(r.tsv for r in rows)  # the generated full-text column was computed
