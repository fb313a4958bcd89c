"""Model files in models_cache/: placing them, checking them, listing them.

- `packaged`: models that ship as files inside an installed package (MiniLM, SmolLM2),
  linked into models_cache/;
- `assemble`: GGUFs shipped as byte slices (the Qwen2.5 answer models), joined and
  checked against a pinned size and sha256, with their licence beside them;
- `catalog`: the models known by name.
May import `rag_core.errors` only; `rag_core.settings` reads its catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import ModelNotFound
from rag_core.modelfiles.assemble import FileCheck, check
from rag_core.modelfiles.catalog import ANSWER_MODELS, AnswerModel, by_file

__all__ = ["ModelRow", "answer_model_rows", "require_usable"]


@dataclass(frozen=True)
class ModelRow:
    """One answer model as `python -m rag_core models` lists it."""

    name: str
    title: str
    file: Path
    check: FileCheck
    licence: Path | None
    answers: bool  # the one RAG_ANSWER_MODEL / RAG_LLM_MODEL_PATH names


def answer_model_rows(models_dir: Path, in_use: Path) -> list[ModelRow]:
    """Every catalogued answer model, and the site's own GGUF when one is set."""
    rows = []
    for model in ANSWER_MODELS.values():
        path = models_dir / model.file
        licence = models_dir / model.licence_file
        rows.append(
            ModelRow(
                model.name,
                model.title,
                path,
                check(model, path),
                licence if licence.is_file() else None,
                path.resolve() == in_use.resolve(),
            )
        )
    if not any(row.answers for row in rows):
        present = in_use.is_file()
        rows.append(
            ModelRow(
                "own",
                "the site's own GGUF (RAG_LLM_MODEL_PATH)",
                in_use,
                FileCheck(
                    in_use,
                    present,
                    False,
                    "" if present else f"{in_use} is missing",
                    in_use.stat().st_size if present else 0,
                ),
                None,
                True,
            )
        )
    return rows


def require_usable(path: Path) -> None:
    """Raises ModelNotFound, in one line naming the file and the command that fixes
    it, when a catalogued model's file is missing, partial or of another hash."""
    model: AnswerModel | None = by_file(path)
    if model is None:
        if not path.is_file():
            raise ModelNotFound(
                f"The answer model {path} is missing: put the GGUF there or set "
                "RAG_LLM_MODEL_PATH; answers are quotes until then."
            )
        return
    found = check(model, path)
    if not found.present or (model.sha256 is not None and not found.verified):
        raise ModelNotFound(
            f"The answer model is not usable: {found.problem}. Run `make models` to "
            "fetch and check it again; answers are quotes until then."
        )
