"""The HTTP API's cost and its behaviour under load, on a throw-away library served by
uvicorn on a free localhost port:

- search: p50/p95 of the same hybrid searches in-process and through POST /api/search
  (one keep-alive client, a token, the audit record of each call);
- ask: `askers` people (an account and a token each) ask at once, each a different
  question; every answer must come back (no error), be the answer to its own question,
  and wait its turn behind the one model.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rag_core.bench.common import (
    corpus_texts,
    percentile,
    print_table,
    scratch_settings,
    write_pdfs,
)
from rag_core.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _searches(services: Any, url: str, token: str, questions: list[str]) -> list[dict[str, Any]]:
    """The same hybrid searches in-process and through the API (a trailing space makes
    each a new query for the embedding cache both times)."""
    import httpx

    for question in questions[:5]:
        services.retriever.search(question, top_k=10)
    inside: list[float] = []
    outside: list[float] = []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as client:
        for question in questions:
            started = time.perf_counter()
            services.retriever.search(question + " ", top_k=10)
            inside.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            response = client.post("/api/search", json={"query": question + "  ", "top_k": 10})
            outside.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return [
        {
            "path": name,
            "queries": len(times),
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
        }
        for name, times in (("in-process", inside), ("HTTP API", outside))
    ]


def _askers(url: str, tokens: list[str], questions: list[str]) -> dict[str, Any]:
    """Everyone asks at once, each their own question with their own token."""
    import httpx

    def ask(number: int) -> tuple[int, bool, float]:
        started = time.perf_counter()
        response = httpx.post(
            url + "/api/ask",
            json={"question": questions[number]},
            headers={"Authorization": f"Bearer {tokens[number]}"},
            timeout=600,
        )
        seconds = time.perf_counter() - started
        own = response.status_code == 200 and response.json()["question"] == questions[number]
        return response.status_code, own, seconds

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        answers = list(pool.map(ask, range(len(tokens))))
    wall = time.perf_counter() - started
    seconds = [a[2] for a in answers]
    return {
        "askers": len(tokens),
        "errors": sum(a[0] != 200 for a in answers),
        "own_answers": sum(a[1] for a in answers),
        "wall_s": round(wall, 1),
        "p50_s": round(statistics.median(seconds), 1),
        "max_s": round(max(seconds), 1),
    }


def bench_api(
    settings: Settings, corpus: Path, files: int, queries: int, askers: int
) -> dict[str, Any]:
    import uvicorn

    from rag_core.api.app import create_app
    from rag_core.db.models import Role
    from rag_core.services import build_services

    scratch = scratch_settings(settings.model_copy(update={"llm_temperature": 0.0}), "rag-bench-")
    services = build_services(scratch)
    with tempfile.TemporaryDirectory(prefix="rag-bench-api-") as work:
        list(services.ingestor.ingest_paths(write_pdfs(Path(work), corpus, 10, files)))
    texts = [t for t in corpus_texts(corpus) if len(t) > 200][: max(queries, askers)]
    questions = [" ".join(t.split()[:12]) + "?" for t in texts]
    tokens = []
    for number in range(askers):
        name = f"asker{number:02d}"
        services.accounts.add(name, "a bench password", Role.STAFF, by=None)
        tokens.append(services.tokens.create(name, "bench", expires_in_days=1, by=None)[0])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        services.warm_up()
        search_rows = _searches(services, url, tokens[0], questions[:queries])
        load = _askers(url, tokens, questions)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        services.close()
    print_table(
        "api: the same hybrid searches in-process and over HTTP", search_rows, list(search_rows[0])
    )
    print_table(f"api: {askers} people ask at once", [load], list(load))
    extra = round(float(search_rows[1]["p95_ms"]) - float(search_rows[0]["p95_ms"]), 1)
    print(f"search p95 through the API: {extra:+} ms")
    return {"benchmark": "api", "search": search_rows, "p95_extra_ms": extra, "ask": load}
