"""The drop-folder watcher: `python -m ingest_watch`."""

import rag_core  # noqa: F401  (first: the offline environment, rag_core/offline.py)
