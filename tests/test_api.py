"""The HTTP API over real HTTP: a uvicorn server on a free localhost port (in a thread
over the test's services, and once as its own process), called with httpx and with
the official `openai` client.  Tokens, the rules of `rag_core.access.policy`, the audit of
every call, and a status and a sentence for every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from rag_core.access.audit import Action, AuditQuery
from rag_core.api.app import create_app
from rag_core.db.models import Role
from rag_core.services import Services, build_services
from rag_core.settings import Settings
from tests.browsing import free_port
from tests.conftest import REPO
from tests.helpers import CONTRACT_PAGES, make_pdf
from tests.test_security import QUESTION, ingest_contract


@dataclass
class Api:
    url: str
    services: Services
    admin: str  # tokens
    staff: str

    def call(
        self, method: str, path: str, token: str | None = None, **kw: object
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))  # type: ignore[call-overload]
        return httpx.request(method, self.url + path, headers=headers, timeout=120, **kw)  # type: ignore[arg-type]


def _serve(services: Services) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _api(services: Services) -> Iterator[Api]:
    services.accounts.add("boss", "a long admin password", Role.ADMIN, by=None)
    services.accounts.add("nurse", "a long staff password", Role.STAFF, by=None)
    admin, _ = services.tokens.create("boss", "tests", expires_in_days=None, by=None)
    staff, _ = services.tokens.create("nurse", "tests", expires_in_days=None, by=None)
    for url in _serve(services):
        yield Api(url, services, admin, staff)


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    yield from _api(services)


@contextmanager
def api_with(settings: Settings, services: Services, **changed: object) -> Iterator[Api]:
    """The API over services built with some settings changed (the same models)."""
    built = build_services(
        settings.model_copy(update=changed),
        embedder=services.embedder,
        generator=services.generator,
    )
    try:
        yield from _api(built)
    finally:
        built.close()


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    message = str(body["error"]["message"])
    assert "Traceback" not in message and message.endswith("."), message
    return message


# --- tokens and rules ---------------------------------------------------------------


def test_health_needs_no_token_and_everything_else_does(api: Api) -> None:
    assert api.call("GET", "/healthz").json() == {"status": "ok"}
    assert "token is needed" in _error(api.call("GET", "/api/status"), 401, "unauthorized")
    bad = api.call("GET", "/api/status", "rag_not-a-real-token")
    assert "not known" in _error(bad, 401, "unauthorized")
    assert bad.headers["www-authenticate"] == "Bearer"
    assert api.call("GET", "/api/status", api.staff).status_code == 200


def test_revoked_expired_and_disabled_tokens_stop_at_once(api: Api) -> None:
    tokens = api.services.tokens
    [info] = tokens.list("nurse")
    tokens.revoke(info.id, by="boss")
    assert "revoked" in _error(api.call("GET", "/api/status", api.staff), 401, "unauthorized")
    short, _ = tokens.create("nurse", "short", expires_in_days=1e-9, by=None)
    time.sleep(0.01)
    assert "expired" in _error(api.call("GET", "/api/status", short), 401, "unauthorized")
    fresh, _ = tokens.create("nurse", "fresh", expires_in_days=None, by=None)
    assert api.call("GET", "/api/status", fresh).status_code == 200
    api.services.accounts.set_active("nurse", False, by="boss")
    assert "disabled" in _error(api.call("GET", "/api/status", fresh), 401, "unauthorized")
    refused = api.services.audit.find(AuditQuery(action=Action.TOKEN_REFUSED)).records
    assert len(refused) == 3


def test_staff_cannot_retire_or_restore_and_see_only_their_own_answers(api: Api) -> None:
    ingest_contract(api.services)
    [document] = api.call("GET", "/api/documents", api.staff).json()["documents"]
    message = _error(
        api.call("DELETE", f"/api/documents/{document['id']}", api.staff), 403, "forbidden"
    )
    assert message == "Only an administrator may retire a document."
    restore = api.call("POST", f"/api/documents/{document['id']}/restore", api.staff)
    _error(restore, 403, "forbidden")

    mine = api.call("POST", "/api/ask", api.staff, json={"question": QUESTION}).json()
    theirs = api.call("POST", "/api/ask", api.admin, json={"question": QUESTION}).json()
    seen = api.call("GET", "/api/history", api.staff).json()
    assert [e["id"] for e in seen["entries"]] == [mine["id"]]
    assert {
        e["asked_by"] for e in api.call("GET", "/api/history", api.admin).json()["entries"]
    } == {
        "boss",
        "nurse",
    }
    rated = api.call("POST", f"/api/answers/{mine['id']}/feedback", api.staff, json={"rating": 4})
    assert rated.json()["rating"] == 4
    other = api.call("POST", f"/api/answers/{theirs['id']}/feedback", api.staff, json={"rating": 1})
    _error(other, 404, "not_found")


def test_every_call_is_on_the_audit_trail_under_the_tokens_owner(api: Api) -> None:
    api.call("GET", "/api/documents", api.staff)
    api.call("POST", "/api/search", api.staff, json={"query": "notice"})
    api.call("DELETE", "/api/documents/999", api.staff)
    calls = api.services.audit.find(AuditQuery(username="nurse", action=Action.API_CALL)).records
    seen = {(r.detail["method"], r.detail["path"], r.detail["status"]) for r in calls}
    assert seen == {
        ("GET", "/api/documents", 200),
        ("POST", "/api/search", 200),
        ("DELETE", "/api/documents/999", 403),
    }


# --- documents ----------------------------------------------------------------------


def test_documents_upload_list_detail_edit_reindex_retire_restore(api: Api, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES).read_bytes()
    made = api.call("POST", "/api/documents", api.staff, files={"file": ("contract.pdf", pdf)})
    assert made.status_code == 201 and made.json()["status"] == "queued", made.text
    assert (api.services.settings.drop_dir / "contract.pdf").read_bytes() == pdf
    list(api.services.ingestor.ingest_paths([api.services.settings.drop_dir]))

    listing = api.call("GET", "/api/documents", api.staff, params={"status": "ready"}).json()
    [row] = listing["documents"]
    assert listing["total"] == 1 and row["pages"] == 4 and row["passages"] >= 1
    detail = api.call("GET", f"/api/documents/{row['id']}", api.staff).json()
    assert detail["files"] == [{"path": row["file"], "present": True}]
    assert detail["status"] == "ready" and detail["searchable"] and detail["versions"]
    assert "passage_texts" not in detail
    shown = api.call("GET", f"/api/documents/{row['id']}", api.staff, params={"passages": 2})
    texts = shown.json()["passage_texts"]
    assert [p["index"] for p in texts] == [0, 1] and texts[0]["page"] == 1 and texts[0]["text"]

    edited = api.call(
        "PATCH",
        f"/api/documents/{row['id']}",
        api.staff,
        json={"title": "Acme MSA", "tags": ["legal"]},
    )
    assert edited.status_code == 200, edited.text
    detail = api.call("GET", f"/api/documents/{row['id']}", api.staff).json()
    assert detail["title"] == "Acme MSA" and detail["tags"] == ["legal"]
    assert (
        api.call("GET", "/api/documents", api.staff, params={"tag": "legal"}).json()["total"] == 1
    )
    assert api.call("POST", f"/api/documents/{row['id']}/reindex", api.staff).status_code == 202

    retired = api.call("DELETE", f"/api/documents/{row['id']}", api.admin)
    assert retired.status_code == 200 and ".retired" in retired.json()["kept_at"]
    assert (
        api.call("POST", "/api/search", api.staff, json={"query": "notice period"}).json()["hits"]
        == []
    )
    restored = api.call("POST", f"/api/documents/{row['id']}/restore", api.admin)
    assert restored.status_code == 200 and restored.json()["restored"] == row["file"]
    _error(api.call("GET", "/api/documents/424242", api.staff), 404, "not_found")


def test_bad_uploads_are_refused_with_a_reason_and_nothing_is_written(api: Api) -> None:
    drop = api.services.settings.drop_dir
    for name in ("../escape.pdf", ".hidden.pdf", "notes.exe"):
        response = api.call(
            "POST", "/api/documents", api.staff, files={"file": (name, b"%PDF-1.4")}
        )
        _error(response, 409, "refused")
    assert not drop.exists() or not any(drop.rglob("*"))
    batch = api.call(
        "POST",
        "/api/documents/batch",
        api.staff,
        files=[("files", ("a.txt", b"The canteen opens at noon.")), ("files", ("b.exe", b"MZ"))],
    )
    assert batch.status_code == 207
    outcomes = {f["name"]: f["status"] for f in batch.json()["files"]}
    assert outcomes == {"a.txt": "queued", "b.exe": "refused"}


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(
    settings: Settings, services: Services
) -> None:
    with api_with(settings, services, max_file_mb=0.5) as api:
        big = b"x" * 3_000_000
        declared = api.call("POST", "/api/documents", api.staff, files={"file": ("big.txt", big)})
        assert "over the 1.5 MB limit" in _error(declared, 413, "too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            yield b"--x\r\nContent-Disposition: form-data; name=file; filename=big.txt\r\n\r\n"
            for _ in range(30):
                yield b"y" * 100_000

        headers = {
            "Authorization": f"Bearer {api.staff}",
            "Content-Type": "multipart/form-data; boundary=x",
        }
        streamed = httpx.post(api.url + "/api/documents", content=chunks(), headers=headers)
        _error(streamed, 413, "too_large")
        drop = api.services.settings.drop_dir
        assert not drop.exists() or not any(drop.iterdir())


def test_malformed_json_wrong_types_and_unknown_fields_get_their_status(api: Api) -> None:
    raw = api.call(
        "POST",
        "/api/search",
        api.staff,
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    _error(raw, 400, "bad_json")
    wrong = api.call("POST", "/api/search", api.staff, json={"query": "x", "top_k": "many"})
    assert "top_k" in _error(wrong, 422, "invalid")
    unknown = api.call("POST", "/api/search", api.staff, json={"query": "x", "topk": 3})
    assert "topk" in _error(unknown, 422, "unknown_field")
    missing = api.call("POST", "/api/search", api.staff, json={})
    assert "query" in _error(missing, 422, "missing_field")
    _error(api.call("GET", "/api/nothing-here", api.staff), 404, "not_found")


# --- answers ------------------------------------------------------------------------


def test_search_ask_and_stream_with_sources(api: Api) -> None:
    ingest_contract(api.services)
    hits = api.call("POST", "/api/search", api.staff, json={"query": QUESTION, "top_k": 3}).json()
    assert hits["hits"][0]["page"] == 2 and "ninety" in hits["hits"][0]["text"]
    assert set(hits["hits"][0]) == {
        "document_id",
        "title",
        "source",
        "page",
        "chunk_index",
        "section",
        "score",
        "text",
    }

    answer = api.call("POST", "/api/ask", api.staff, json={"question": QUESTION}).json()
    assert not answer["abstained"] and "ninety" in answer["answer"] and answer["cited"]
    cited = answer["sources"][answer["cited"][0] - 1]
    assert cited["cited"] and cited["page"] == 2

    with httpx.stream(
        "POST",
        api.url + "/api/ask",
        json={"question": QUESTION, "stream": True},
        headers={"Authorization": f"Bearer {api.staff}"},
        timeout=120,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    kinds = [line.split(": ", 1)[1] for line in events if line.startswith("event:")]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"piece"}
    final = json.loads(events[-1].split(": ", 1)[1])
    pieces = "".join(
        json.loads(data.split(": ", 1)[1])["text"]
        for event, data in zip(events[::2], events[1::2], strict=True)
        if event == "event: piece"
    )
    assert pieces.strip() == final["answer"] and final["sources"]

    unanswerable = api.call(
        "POST", "/api/ask", api.staff, json={"question": "Who won the 1998 World Cup?"}
    )
    assert unanswerable.json()["abstained"]
    _error(api.call("POST", "/api/ask", api.staff, json={"question": "   "}), 400, "bad_question")


def test_too_many_questions_a_minute_get_429(settings: Settings, services: Services) -> None:
    with api_with(settings, services, questions_per_minute=2) as api:
        for _ in range(2):
            asked = api.call("POST", "/api/ask", api.staff, json={"question": QUESTION})
            assert asked.status_code == 200
        refused = api.call("POST", "/api/ask", api.staff, json={"question": QUESTION})
        assert "questions in the last minute" in _error(refused, 429, "too_many_requests")


def test_the_official_openai_client_chats_with_the_documents(api: Api) -> None:
    import openai

    ingest_contract(api.services)
    client = openai.OpenAI(base_url=api.url + "/v1", api_key=api.staff)
    assert [m.id for m in client.models.list()] == ["local-documents"]
    reply = client.chat.completions.create(
        model="local-documents", messages=[{"role": "user", "content": QUESTION}]
    )
    text = reply.choices[0].message.content or ""
    assert "ninety" in text and "[1]" in text
    assert reply.model_extra and reply.model_extra["sources"][0]["page"] == 2

    streamed = client.chat.completions.create(
        model="local-documents",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
    )
    assert "ninety" in "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)

    # An earlier turn feeds the follow-up rule, as in the app.
    follow_up = client.chat.completions.create(
        model="local-documents",
        messages=[
            {"role": "user", "content": "What does the contract say about termination?"},
            {"role": "assistant", "content": text},
            {"role": "user", "content": "and how much notice is that?"},
        ],
    )
    assert follow_up.model_extra and "termination" in follow_up.model_extra["searched_for"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=api.url + "/v1", api_key="rag_wrong").models.list()


def test_the_docs_page_is_served_from_this_machine(api: Api) -> None:
    page = api.call("GET", "/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    assets = [part.split('"')[0] for part in page.split('src="')[1:]]
    assert assets and all(api.call("GET", asset).status_code == 200 for asset in assets)
    schema = api.call("GET", "/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/v1/chat/completions"} <= set(schema["paths"])


def test_the_api_runs_as_its_own_process(services: Services, tmp_path: Path) -> None:
    services.accounts.add("boss", "a long admin password", Role.ADMIN, by=None)
    token, _ = services.tokens.create("boss", "process", expires_in_days=None, by=None)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": services.settings.database_url or "",
        "RAG_DATA_DIR": str(services.settings.data_dir),
        "RAG_DROP_DIR": str(services.settings.drop_dir),
        "RAG_MODELS_DIR": str(services.settings.models_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_core.api", "--port", str(port)], cwd=REPO, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        status = httpx.get(url + "/api/status", headers={"Authorization": f"Bearer {token}"})
        assert status.status_code == 200 and status.json()["ready"] == 0
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "rag_core.api", "--address", "0.0.0.0", "--port", str(port)],
        cwd=REPO,
        env={**env, "RAG_AUTH_ENABLED": "false"},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "Refusing to serve on 0.0.0.0" in refused.stderr


def test_the_embedded_server_stops_when_the_api_was_its_last_user(tmp_path: Path) -> None:
    """uvicorn raised SIGTERM again once stopped, which skipped `atexit`: the embedded
    PostgreSQL never learnt that the API had left and ran on after `make run` ended."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_DROP_DIR": str(tmp_path / "drop")}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_core.api", "--port", str(port)], cwd=REPO, env=env
    )
    pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert pid_file.exists()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_file.exists(), "the embedded PostgreSQL is still running"
