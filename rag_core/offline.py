"""The environment every process of the appliance runs with, so that no library it
loads reaches out: set by `import rag_core`, before any of them is imported.

Every entry point goes through here: the CLI (`python -m rag_core`), the watcher and
its helper workers (`ingest_watch` imports rag_core first), the extraction and page
drawing children (modules of rag_core), the app (`app.py` imports rag_core before
anything that loads a model), the bench and eval commands; `make run`, the Dockerfile
and docker-compose.yml start those.  Children inherit the environment.

Forced, not defaulted, where a value would phone home: a user's shell that exports
`ORT_DISABLE_TELEMETRY=0` does not turn telemetry on for the appliance.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# What each library reads to stay quiet.  Found by tracing every process's system calls
# in a loopback-only namespace (tests/test_airgap.py); checked for each new dependency.
QUIET: dict[str, str] = {
    # ONNX Runtime (1.29+) sends usage events from native code on Linux and keeps a
    # device id and an offline event cache under ~/.cache/Microsoft/DeveloperTools/;
    # `onnxruntime.disable_telemetry_events()` did not stop the lookups, this does.
    "ORT_DISABLE_TELEMETRY": "1",
    # Hugging Face hub, transformers, sentence-transformers: never to the hub, no usage
    # pings (the models load from local paths).
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # Streamlit's usage statistics (also off in .streamlit/config.toml).
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    # The common opt-out, for any tool that honours it.
    "DO_NOT_TRACK": "1",
}
# Quiet logs, not network: a site may override these.
DEFAULTS: dict[str, str] = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}
# Where ONNX Runtime kept its events before the appliance turned them off.
ORT_EVENT_CACHE = Path(".cache") / "Microsoft" / "DeveloperTools" / ".onnxruntime"


def apply() -> None:
    """Put the quiet environment into this process (and so its children)."""
    os.environ.update(QUIET)
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def leftover_telemetry(home: Path | None = None) -> Path | None:
    """ONNX Runtime's event cache in the user's home, if an earlier run left one."""
    folder = (home or Path.home()) / ORT_EVENT_CACHE
    return folder if folder.exists() else None


def warn_about_leftovers() -> None:
    """One log line when a telemetry cache from before is still on disk."""
    if (folder := leftover_telemetry()) is not None:
        log.warning(
            "ONNX Runtime's telemetry cache from an earlier run is at %s (its device id and "
            "unsent usage events; nothing is added to it now). Delete it with: rm -rf %s",
            folder,
            folder,
        )
