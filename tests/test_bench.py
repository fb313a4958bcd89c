"""The benchmarks' quick mode runs end to end and reports sane figures (CI runs it;
the figures themselves are never asserted against a time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_core.bench.__main__ import _parser, run
from rag_core.settings import Settings

# Committed with the project, so the test does not depend on the shared folder.
CORPUS = Path(__file__).resolve().parent.parent / "eval/manpages-smoke/corpus.jsonl"


@pytest.mark.models
def test_quick_benchmarks_run_and_report(settings: Settings, tmp_path: Path) -> None:
    args = _parser().parse_args(["--corpus", str(CORPUS), "--quick", "all"])
    result = run(args, settings)
    json.dumps(result)  # JSON-ready
    embed, ingest, retrieve, search, answer = result["results"]

    backends = {row["backend"] for row in embed["runs"]}
    assert backends == {"torch", "onnx-int8"}
    for row in embed["runs"]:
        assert row["chunks_per_s"] > 0 and 0.95 < row["cosine_mean"] <= 1.0001

    naive, ours = ingest["runs"]
    assert naive["chunks"] == ours["chunks"] > 0 and naive["pages"] == ours["pages"] == 4
    assert set(ours) >= {"extract_s", "embed_s", "write_s", "pages_per_s"}
    assert ingest["embedding_chunks_per_s"] > 0
    share = ingest["share_of_embedding_rate"]
    assert abs(share - ours["chunks_per_s"] / ingest["embedding_chunks_per_s"]) < 0.01
    own = ingest["share_of_own_passages_rate"]
    assert abs(own - ours["chunks_per_s"] / ingest["own_passages_chunks_per_s"]) < 0.01

    indexes = {row["index"] for row in retrieve["runs"]}
    assert indexes == {"vector m=16 ef_construction=64", "halfvec m=16 ef_construction=64"}
    for row in retrieve["runs"]:
        assert 0.8 <= row["recall_at_10"] <= 1.0 and row["index_mb"] > 0

    measured = {(row["ranking"], row["mode"]) for row in search["runs"]}
    assert measured == {(r, m) for r in ("bm25", "ts_rank") for m in ("hybrid", "fulltext")}
    assert all(0 < row["p50_ms"] <= row["p95_ms"] for row in search["runs"])

    assert set(answer["runs"]) == {"idle", "during an ingest at nice 10"}
    for when in answer["runs"]:
        medians = answer["medians"][when]
        assert 0 < medians["quotes_s"] <= medians["complete_s"] <= medians["complete_p95_s"]


@pytest.mark.models
def test_quick_formats_benchmark_ingests_one_file_of_each_type(settings: Settings) -> None:
    args = _parser().parse_args(["--corpus", str(CORPUS), "--quick", "formats"])
    result = run(args, settings)
    json.dumps(result)
    files = {row["file"].rsplit(".", 1)[1]: row for row in result["runs"]}
    assert set(files) == {"docx", "odt", "html", "eml", "pptx", "xlsx"}
    for row in files.values():
        assert row["outcome"] == "ingested" and row["passages"] > 0 and row["units_per_s"] > 0


@pytest.mark.models
def test_quick_api_benchmark_serves_searches_and_concurrent_askers(settings: Settings) -> None:
    args = _parser().parse_args(["--corpus", str(CORPUS), "--quick", "api"])
    result = run(args, settings)
    json.dumps(result)
    paths = {row["path"]: row for row in result["search"]}
    assert set(paths) == {"in-process", "HTTP API"}
    assert all(0 < row["p50_ms"] <= row["p95_ms"] for row in paths.values())
    assert result["ask"]["errors"] == 0 and result["ask"]["own_answers"] == result["ask"]["askers"]


@pytest.mark.models
def test_quick_answer_benchmark_asks_beside_a_site_check(settings: Settings) -> None:
    # The quality worker runs in a second process on the same library and model; the
    # benchmark asks only once it has answered a case (it raises when none comes).
    args = _parser().parse_args(["--corpus", str(CORPUS), "--quick", "answer", "--beside-check"])
    result = run(args, settings)
    json.dumps(result)
    assert set(result["runs"]) == {"idle", "during an ingest at nice 10", "during a site check"}
    during = result["medians"]["during a site check"]
    assert 0 < during["quotes_s"] <= during["complete_s"]
    assert result["check_slowdown"] > 0 and result["check_cases_answered"] >= 0
