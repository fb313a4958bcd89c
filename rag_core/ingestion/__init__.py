"""Ingestion: how a dropped file becomes passages, and what happens when it cannot.

- `ingest`: the `Ingestor`, one file from hash to stored passages, steps overlapped
  across files; it calls the steps below in order:
  - `files`: folders walked, the file hashed while copied (what is read is what was
    hashed);
  - `records`: the rows: what needs no work settled, a document claimed, its passages
    stored in one transaction, a failure recorded, a file that is gone retired;
  - `reading`: the file read and cut into passages, also ahead of its turn;
  - `isolation`: the reader process and its CPU-time and memory limits;
  - `chunking`: pages cut into passages with their sections;
- `results`: what it is given and answers (`IngestOptions`, `IngestResult`, `Outcome`);
- `jobs`: the job queue in PostgreSQL; `retries`: when a failed file is read again;
- `backlog` (what is left, how long it will take), `liveness` (who is ingesting),
  `heartbeat` (a job's lease kept while it works);
- `folders` (types from subfolders, sidecar metadata), `attachments` (an e-mail's
  attachments kept as files of their own).

It may import `rag_core.errors`, `rag_core.db`, `rag_core.extract` and the embedder in
`rag_core.search.embedding`; never the answer path, the library's views or the app.
The watcher (`ingest_watch/`) drives it.
"""
