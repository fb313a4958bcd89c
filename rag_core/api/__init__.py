"""The local HTTP API: what the app's pages do, for other programs on this machine (an
intranet page, a script, an EHR plug-in, a chat client that speaks OpenAI's API).

`python -m rag_core.api` serves it with uvicorn on 127.0.0.1:8502 (`RAG_API_ADDRESS`,
`RAG_API_PORT`; the app's exposure rule applies).  Every call but `GET /healthz`
carries a personal token (`Authorization: Bearer rag_…`, made on the Users page or
with `python -m rag_core users token create NAME`); the rules of `rag_core.access.policy`
apply to it as to the person, and every call is on the audit trail under the token's
owner.  Errors are `{"error": {"code": …, "message": …}}` with their HTTP status,
never a traceback.  The OpenAPI schema is `/openapi.json`; `/docs` is its
interactive page, served from this machine (no CDN).

- `app`: the FastAPI application, its error handlers and the audit of every call;
- `auth`: the token check; `schemas`: request bodies;
- `documents`, `answers`, `openai_compat`: the routes, over the same services the
  pages use.
"""
