"""Ingestion: how a dropped file becomes passages, and what happens when it cannot.

Today this package holds the retry policy (`retries`); the queue, worker steps,
isolation and chunking still live beside it in `rag_core` and move here in turn.  It may
import `rag_core.errors` and the extraction package, never the answer path or the app.
"""
