"""The library as staff see and handle it: what it holds, what was asked of it, and its
safe keeping.

- `catalog`: documents by status, failures with their next step, filter values, page text;
- `actions`: what staff do to files from the app or the API (upload, edit, retire,
  restore, re-index), always through the drop folder, which stays the source of truth;
- `history`: past questions read back, searched, rated and exported;
- `insights`: usage figures (questions per day, latency, abstention, why files failed);
- `backup`: the database and the drop folder in one tar, and restoring it.

It may import `rag_core.errors`, `rag_core.db`, `rag_core.access` (the audit trail),
`rag_core.ingestion` (hashing, the queue, re-indexing) and, for how passages are shown,
`rag_core.answers`; the app, the API, the CLI and the watcher ask it, never the other
way round.
"""
