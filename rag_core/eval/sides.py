"""Evaluations' own databases and caches: how they are named and opened, beside the
library and never in it.  Shared by `rag_core.eval` and the evaluations it runs."""

from __future__ import annotations

import hashlib

from rag_core.settings import Settings


def side_name(prefix: str, label: str, key: str, width: int = 24) -> str:
    """The name of an evaluation's own database (or cache): `prefix`, the set's name
    as letters and digits, and a digest of what it was built from (`key`)."""
    slug = "".join(c if c.isalnum() else "_" for c in label.lower())[:width]
    return f"{prefix}_{slug}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def half_of(question_id: str) -> str:
    """Which of a set's two fixed halves a question is in ("a" or "b"), by a hash of its
    id: tune on a, report both, keep a change only if it helps both."""
    return "ab"[hashlib.sha1(question_id.encode()).digest()[0] % 2]


def side_settings(settings: Settings, name: str) -> Settings:
    """`settings` for database `name`, on the embedded server or on DATABASE_URL's (made
    if missing): an evaluation that ingests never writes into the library."""
    from rag_core.db.engine import side_settings_url

    side_url = side_settings_url(settings.database_url, name)
    return settings.model_copy(update={"database_name": name, "database_url": side_url})


def vectors_key(settings: Settings) -> str:
    """What the stored vectors depend on: the model's folder, the backend, and for int8
    ONNX the batch size too (its activations are quantized per batch, so a passage's
    vector moves with the passages beside it: cosine 0.995 on average between batches
    of 8 and 16)."""
    model = settings.embedding_path.name
    if settings.embedding_backend == "torch":
        return f"{model}:torch"
    return f"{model}:{settings.embedding_backend}:batch{settings.embedding_batch_size}"
