"""Ingestion: how a dropped file becomes passages, and what happens when it cannot.

- `ingest`: the `Ingestor`, one file from hash to stored passages (read, chunk, embed,
  store), and retiring a file that is gone;
- `isolation`: the reader process and its CPU-time and memory limits;
- `chunking`: pages cut into passages with their sections;
- `jobs`: the job queue in PostgreSQL; `retries`: when a failed file is read again;
- `backlog` (what is left, how long it will take), `liveness` (who is ingesting),
  `heartbeat` (a job's lease kept while it works);
- `folders` (types from subfolders, sidecar metadata), `attachments` (an e-mail's
  attachments kept as files of their own).

It may import `rag_core.errors`, `rag_core.db`, `rag_core.extract` and the embedder in
`rag_core.search.embedding`; never the answer path, the library's views or the app.
The watcher (`ingest_watch/`) drives it.
"""
