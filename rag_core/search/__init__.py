"""Search: a question -> ranked passages.

- `hits`: what search hands on (`Hit`) and what it may be restricted to (`Filters`);
- `embedding` (and `onnx_embedding`): text -> vectors, for passages and questions;
- `textsearch`: the full-text side (PostgreSQL's `ts_rank`, or BM25 on the term
  statistics the database keeps current);
- `retrieval`: vector and full-text search fused into one ranking, in one statement;
- `reranking`: the optional cross-encoder of a site that installed one.
"""
