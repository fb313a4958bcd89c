"""The embedding model as int8 ONNX, run by ONNX Runtime: the same vectors as the
sentence-transformers model to a cosine of about 0.99, at about twice the speed on a
plain CPU (`python -m rag_core.bench embed`).

The ONNX file is exported offline, from the local model folder, by `python -m rag_core
models` (or on first use): torch traces the transformer, ONNX Runtime quantizes its
weights to int8 per channel (dynamic quantization: activations are quantized on the
fly, so no calibration data is needed).  Two recipes:

- an encoder whose sentence-transformers pipeline ends in pooling (MiniLM): the
  transformer alone is exported; pooling and normalisation stay in numpy;
- a pipeline with layers after the pooling (EmbeddingGemma: mean pooling, two dense
  layers, normalisation): the whole pipeline is exported and gives the sentence vector.
  A decoder made bidirectional (Gemma 3's `use_bidirectional_attention`) gets its
  attention masks built here from the padding mask: transformers builds them with
  `vmap`, which the tracer cannot follow.  Such a model takes no `token_type_ids`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_core.errors import ModelMismatch, ModelNotFound, RagError

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

ONNX_FILE = "model.int8.onnx"
MANIFEST = "export.json"
# Bump when the export recipe changes, so an older export is redone.
RECIPE = 1
PIPELINE_RECIPE = "pipeline-1"


@dataclass(frozen=True)
class ModelLayout:
    """What sentence-transformers would do around the transformer."""

    pooling: str  # "mean" or "cls"
    normalize: bool
    max_tokens: int
    # Layers after the pooling (dense projections): the whole pipeline is exported.
    pipeline: bool = False

    @classmethod
    def read(cls, model_dir: Path) -> ModelLayout:
        modules = _json(model_dir / "modules.json") or []
        pooling = "mean"
        pipeline = any(m.get("type", "").endswith("Dense") for m in modules)
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                config = _json(model_dir / module.get("path", "") / "config.json") or {}
                if config.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif not config.get("pooling_mode_mean_tokens", True) and not pipeline:
                    raise ModelMismatch(
                        f"The embedding model at {model_dir} pools in a way the ONNX backend "
                        "does not reproduce (only mean and CLS pooling). Set "
                        "RAG_EMBEDDING_BACKEND=torch."
                    )
        normalize = any(m.get("type", "").endswith("Normalize") for m in modules) or not modules
        config = _json(model_dir / "sentence_bert_config.json") or {}
        max_tokens = int(config.get("max_seq_length", 256))
        return cls(pooling, normalize, max_tokens, pipeline)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _source_stamp(model_dir: Path) -> dict[str, Any]:
    pipeline = ModelLayout.read(model_dir).pipeline
    weights = sorted(
        p for p in model_dir.iterdir() if p.suffix in {".safetensors", ".bin"} and p.is_file()
    )
    if not weights:
        raise ModelNotFound(f"No model weights (*.safetensors or *.bin) in {model_dir}.")
    return {
        "source": str(model_dir.resolve()),
        "weights": {p.name: p.stat().st_size for p in weights},
        "recipe": PIPELINE_RECIPE if pipeline else RECIPE,
    }


def export_dir_for(model_dir: Path, models_dir: Path) -> Path:
    """One export folder per source model folder (its export.json names the source)."""
    digest = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:10]
    return models_dir / f"embedding-{digest}.onnx-int8"


def ensure_export(model_dir: Path, target: Path) -> Path:
    """The int8 ONNX export of `model_dir` in `target`, made now unless an export of these
    same weights is already there.  Safe against several processes exporting at once:
    each writes a temporary folder and renames it into place."""
    stamp = _source_stamp(model_dir)
    if _json(target / MANIFEST) == stamp and (target / ONNX_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        log.info("exporting the embedding model %s to int8 ONNX (once)", model_dir)
        try:
            _export(model_dir, work)
        except RagError:
            raise
        except Exception as exc:  # the exporter's own failure, for an unusual model
            raise ModelMismatch(
                f"The embedding model at {model_dir} could not be exported to ONNX "
                f"({type(exc).__name__}: {exc}). Set RAG_EMBEDDING_BACKEND=torch."
            ) from exc
        work.chmod(0o755)
        (work / MANIFEST).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            work.replace(target)
        except OSError:
            if _json(target / MANIFEST) != stamp:
                raise
            # Another process put the same export there first.
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s to int8 ONNX in %s", model_dir, target)
    return target


def _export(model_dir: Path, work: Path) -> None:
    tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        raise ModelMismatch(
            f"The embedding model at {model_dir} has no tokenizer.json, which the ONNX "
            "backend needs. Set RAG_EMBEDDING_BACKEND=torch."
        )
    if ModelLayout.read(model_dir).pipeline:
        model, names, output = _whole_pipeline(model_dir), _PIPELINE_INPUTS, "sentence_embedding"
    else:
        model, names, output = _transformer(model_dir), _BERT_INPUTS, "last_hidden_state"
    # The tracer and the quantizer narrate every step (on the root logger); the export is
    # checked by its outcome instead.
    root = logging.getLogger()
    level = root.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)
        try:
            _trace_and_quantize(model, names, output, work)
        finally:
            root.setLevel(level)
    shutil.copyfile(tokenizer, work / "tokenizer.json")


_BERT_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
_PIPELINE_INPUTS = ["input_ids", "attention_mask"]


def _transformer(model_dir: Path) -> Any:
    """The transformer alone, giving the last hidden state."""
    import torch
    from transformers import AutoModel

    # Eager attention traces into plain MatMul/Softmax, which quantizes and runs well.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    return LastHiddenState(model)


def _whole_pipeline(model_dir: Path) -> Any:
    """Transformer, pooling, dense layers and normalisation, giving the sentence vector."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        str(model_dir),
        device="cpu",
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    ).eval()
    inner: Any = model[0].auto_model
    config = inner.config
    window = getattr(config, "sliding_window", None) or 1 << 30
    bidirectional = bool(getattr(config, "use_bidirectional_attention", False))

    class SentenceVector(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner
            self.rest = torch.nn.ModuleList(model[i] for i in range(1, len(model)))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            mask: Any = attention_mask
            if bidirectional:
                # Every token sees every other one that is not padding (within the
                # sliding window on the sliding layers), as an additive float mask.
                positions = torch.arange(input_ids.shape[1])
                near = (positions[None, :] - positions[:, None]).abs() < window
                keep = attention_mask[:, None, None, :].bool()
                low = torch.finfo(torch.float32).min
                zero = torch.zeros((), dtype=torch.float32)
                mask = {
                    "full_attention": torch.where(keep, zero, low),
                    "sliding_attention": torch.where(keep & near[None, None], zero, low),
                }
            out = self.inner(input_ids=input_ids, attention_mask=mask)
            features = {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "token_embeddings": out.last_hidden_state,
            }
            for module in self.rest:
                features = module(features)
            vector: torch.Tensor = features["sentence_embedding"]
            return vector

    return SentenceVector().eval()


def _trace_and_quantize(model: Any, names: list[str], output: str, work: Path) -> None:
    """`output`: last_hidden_state (per token) or sentence_embedding (per text)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample = torch.ones((2, 8), dtype=torch.long)
    fp32 = work / "model.fp32.onnx"
    inputs = (sample, sample, torch.zeros_like(sample))[: len(names)]
    per_token = output == "last_hidden_state"
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes[output] = {0: "batch", 1: "tokens"} if per_token else {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            inputs,
            str(fp32),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(
        str(fp32), str(work / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True
    )
    fp32.unlink()


class OnnxEncoder:
    """Tokenize, run the int8 transformer, pool and normalise; thread-safe."""

    def __init__(self, model_dir: Path, export_dir: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.layout = ModelLayout.read(model_dir)
        folder = ensure_export(model_dir, export_dir)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.layout.max_tokens)
        self.tokenizer.enable_padding()
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            self.tokenizer.no_truncation()
            self.tokenizer.no_padding()
            try:
                encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
            finally:
                self.tokenizer.enable_truncation(self.layout.max_tokens)
                self.tokenizer.enable_padding()
        return [len(e.ids) for e in encoded]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        # Longest first, as sentence-transformers does: batches of similar length pad less.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        parts = [
            self._encode_batch([texts[i] for i in order[start : start + batch_size]])
            for start in range(0, len(texts), batch_size)
        ]
        stacked = np.concatenate(parts)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        if hidden.ndim == 2:  # the whole pipeline: already the sentence vector
            pooled = hidden
        elif self.layout.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.layout.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: np.ndarray = pooled.astype(np.float32)
        return result
