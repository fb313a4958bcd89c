"""The drop-folder watcher: `python -m ingest_watch`."""
