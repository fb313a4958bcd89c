"""The command-line contract, run as a separate process the way a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, make_pdf

HIT_FIELDS = {"document_id", "title", "source", "page", "chunk_index", "section", "score", "text"}


def run_cli(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAG_MODELS_DIR": str(MODELS_DIR),
        "RAG_LLM_TEMPERATURE": "0",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "rag_core", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def ingested(database_url: str, tmp_path: Path) -> Path:
    """A folder with one good PDF and one bad one, ingested through the CLI."""
    folder = tmp_path / "docs"
    make_pdf(folder / "contract.pdf", CONTRACT_PAGES)
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 truncated")
    result = run_cli(database_url, tmp_path, "ingest", str(folder))
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 1, result.stderr  # one file failed
    assert len(lines) == 2
    assert lines[0].startswith("ingested") and "contract.pdf" in lines[0]
    assert lines[1].startswith("failed") and "scan.pdf: damaged or unreadable PDF" in lines[1]
    return folder


def test_search_json_has_the_contract_shape(
    database_url: str, tmp_path: Path, ingested: Path
) -> None:
    result = run_cli(
        database_url, tmp_path, "search", "termination notice", "--top-k", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    assert set(payload) == {"query", "hits"}
    assert payload["query"] == "termination notice"
    assert 1 <= len(payload["hits"]) <= 2
    top = payload["hits"][0]
    assert set(top) == HIT_FIELDS
    assert top["source"] == str(ingested / "contract.pdf")
    assert top["page"] == 2  # 1-based
    assert isinstance(top["score"], float) and isinstance(top["chunk_index"], int)


def test_ask_and_status_json(database_url: str, tmp_path: Path, ingested: Path) -> None:
    result = run_cli(database_url, tmp_path, "ask", "What is the notice period?", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "answer",
        "abstained",
        "mode",
        "cited",
        "evidence",
        "sentences_written",
        "sentences_verified",
        "model",
        "figure",
        "searched_with",
        "sources",
    }
    assert payload["abstained"] is False and payload["answer"]
    assert payload["figure"] is None  # no figure asked for
    assert payload["searched_with"] is None  # a close question: no model words
    assert payload["sources"][0]["page"] == 2
    assert all(set(s) == HIT_FIELDS for s in payload["sources"])
    [first, *_] = payload["evidence"]
    assert first["source"] == 1 and first["page"] == 2
    assert first["text"] in payload["answer"]
    assert 1 in payload["cited"]
    assert 0 <= payload["sentences_verified"] <= payload["sentences_written"]
    assert payload["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

    unrelated = json.loads(
        run_cli(database_url, tmp_path, "ask", "Best pizza in Naples?", "--json").stdout
    )
    assert unrelated["abstained"] is True
    assert unrelated["evidence"] == [] and unrelated["cited"] == []
    assert len(unrelated["sources"]) <= 3  # the nearest passages

    status = run_cli(database_url, tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)
    assert counts["ingestion"] == {
        "running": False,
        "watchers": 0,
        "workers": 0,
        "watcher_last_seen": None,
    }
    assert counts["documents"] == {
        "ready": 1,
        "processing": 0,
        "failed": 1,
        "queued": 0,
        "total": 2,
    }
    assert counts["processing"] == []
    assert counts["chunks"] >= 4
    (failure,) = counts["failed"]
    assert failure["source"] == str(ingested / "scan.pdf")
    assert failure["error"] == "damaged or unreadable PDF"
    # Damaged, maybe half-written: read once more, quietly, by the watcher.
    assert failure["next"].startswith("will try again in ")
    assert failure["retry_at"]


def test_empty_question_exits_2_with_a_message(database_url: str, tmp_path: Path) -> None:
    result = run_cli(database_url, tmp_path, "ask", "  ")
    assert result.returncode == 2
    assert "error: Please type a question." in result.stderr


def test_missing_model_names_the_path_and_the_fix(database_url: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"RAG_EMBEDDING_MODEL_PATH={tmp_path / 'no-such-model'}\n")
    result = run_cli(database_url, tmp_path, "search", "anything")
    assert result.returncode == 2
    assert f"Embedding model not found at {tmp_path / 'no-such-model'}" in result.stderr
    assert "make models" in result.stderr


def test_reindex_queues_every_file_for_a_second_reading(
    database_url: str, tmp_path: Path, ingested: Path
) -> None:
    import sqlalchemy as sa

    result = run_cli(database_url, tmp_path, "reindex", "--all")
    assert result.returncode == 0, result.stderr
    # The damaged file has no ready version to read again.
    assert result.stdout.split() == ["queued", str(ingested / "contract.pdf")]
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            jobs = connection.execute(
                sa.text("SELECT path, force, reindex FROM jobs WHERE reindex")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(j) for j in jobs] == [(str(ingested / "contract.pdf"), True, True)]
    refused = run_cli(database_url, tmp_path, "reindex")
    assert refused.returncode == 2 and "name the files to read again, or --all" in refused.stderr
