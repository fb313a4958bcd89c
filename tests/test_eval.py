"""The retrieval evaluation: its metrics by hand, and the command on a small dataset in
the BEIR layout with the real database and embedding model."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag_core.eval.commands import (
    document_ranking,
    evaluate,
    format_table,
    load_beir,
    load_corpus,
    query_metrics,
)
from rag_core.search.retrieval import Mode
from rag_core.services import Services
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, make_pdf


def test_metrics_of_one_ranking() -> None:
    relevant = {"a": 1, "b": 2}
    metrics = query_metrics(["x", "b", "y", "z", "a"], relevant)
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@5"] == 1.0
    assert metrics["mrr@10"] == 0.5
    dcg = 2 / math.log2(3) + 1 / math.log2(6)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert metrics["ndcg@10"] == pytest.approx(dcg / ideal)
    assert query_metrics([], relevant)["ndcg@10"] == 0.0


def test_documents_are_ranked_by_their_best_passage() -> None:
    assert document_ranking(["d1", "d2", "d1", "d3", "d4"], 3) == ["d1", "d2", "d3"]


def write_dataset(folder: Path) -> None:
    corpus = {f"contract-{i}": ("Acme agreement", text) for i, text in enumerate(CONTRACT_PAGES)}
    corpus["dosing"] = (
        "Clinic handbook",
        "Children aged 6 to 12 get at most 60 mg/kg paracetamol a day.",
    )
    corpus["parking"] = (
        "Facilities",
        "Parking permits are renewed every January at the front desk.",
    )
    queries = {
        "q1": "How long is the notice period to terminate the agreement?",
        "q2": "maximum paracetamol dose for children",
        "q3": "When do parking permits need renewing?",
    }
    qrels = [("q1", "contract-1", 1), ("q2", "dosing", 1), ("q3", "parking", 1)]
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, (title, text) in corpus.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)


def test_load_beir_reads_the_layout(tmp_path: Path) -> None:
    write_dataset(tmp_path / "tiny")
    dataset = load_beir(tmp_path / "tiny")
    assert len(dataset.corpus) == 6 and len(dataset.queries) == 3
    assert dataset.qrels["q2"] == {"dosing": 1}


@pytest.mark.models
def test_eval_command_prints_and_writes_every_mode(database_url: str, tmp_path: Path) -> None:
    write_dataset(tmp_path / "tiny")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAG_MODELS_DIR": str(MODELS_DIR),
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable,
        "-m",
        "rag_core.eval",
        str(tmp_path / "tiny"),
        "--floors",
        "0.3,0.99",
        "--off-topic",
        str(tmp_path / "off-topic.jsonl"),
    ]
    (tmp_path / "off-topic.jsonl").write_text(
        '{"_id": "x1", "text": "Who painted the ceiling of the Sistine Chapel?"}\n'
        '{"_id": "x2", "text": "What is the offside rule in football?"}\n'
    )
    out = tmp_path / "figures.json"
    for _ in range(2):  # the second run reuses the loaded corpus
        done = subprocess.run(
            [*command, "--json", str(out)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "reusing the loaded corpus (6 documents)" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tiny: 6 documents, 3 judged queries"
    assert [line.split()[0] for line in lines[2:5]] == ["vector", "fulltext", "hybrid"]
    results = json.loads(out.read_text())["results"]
    for mode in ("vector", "fulltext", "hybrid"):
        assert set(results[mode]) >= {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
    # Easy questions: the hybrid ranking finds each one's document, in either half.
    assert results["hybrid"]["recall@5"] == 1.0
    assert results["hybrid"]["ndcg@10 a"] > 0 and results["hybrid"]["ndcg@10 b"] > 0
    floors = json.loads(out.read_text())["abstention"]
    assert [row["floor"] for row in floors] == [0.3, 0.99]
    # No passage of a 6-document corpus is 0.99 similar to a question: all abstain but
    # those whose words all appear in a passage.
    assert floors[1]["false_abstention"] > floors[0]["false_abstention"]
    # Questions about nothing in the corpus: turned away at the default floor.
    assert [row["abstention_off_topic"] for row in floors] == [1.0, 1.0]


@pytest.mark.models
def test_hybrid_is_at_least_as_good_as_either_mode_on_the_dev_set(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    """The smoke run of the committed development set (real man pages, real queries)."""
    dataset = load_beir(REPO / "eval" / "manpages-smoke")
    load_corpus(services.db, services.embedder, dataset, services.settings)
    results = evaluate(services.retriever, dataset, [m.value for m in Mode], k=10)
    with capsys.disabled():
        print("\n" + format_table(results))
    best_single = max(results["vector"]["ndcg@10"], results["fulltext"]["ndcg@10"])
    assert results["hybrid"]["ndcg@10"] >= best_single
    assert results["hybrid"]["recall@10"] >= 0.9


# --- answers ---------------------------------------------------------------------------


def test_gold_answers_are_found_by_squad_normalisation_or_by_figure() -> None:
    from rag_core.eval.answers import contains_gold

    assert contains_gold(
        "“The Normans were in Normandy in the 10th century.” [1]", ["10th century"], False
    )
    assert contains_gold("It is THE French one.", ["the French"], False)
    assert not contains_gold("It is Spanish.", ["French"], False)
    assert contains_gold("Current liabilities were 5,466 [1].", ["$5466.00"], True)
    assert not contains_gold("Current liabilities were 5,467 [1].", ["$5466.00"], True)
    assert contains_gold("Anything.", ["Yes, it did."], True) is None  # no figure to find


def test_a_computed_figure_is_scored_within_one_percent_or_the_gold_rounding() -> None:
    from rag_core.eval.answers import figure_within

    assert figure_within("$11,588.00 million", "$11588.00")
    assert figure_within("$302.58 million", "$303.00")  # 0.14 % off
    assert not figure_within("$0.39 billion", "$0.40")  # 2.5 % off
    assert figure_within("0.01", "0.01") and figure_within("-3.70", "-3.7")
    assert figure_within("65.4%", "65.4%") and not figure_within("64.4%", "65.4%")
    assert figure_within(None, "0.66") is False  # no figure shown
    assert figure_within("0.66", "Yes, it did.") is None  # nothing to score


def write_squad(folder: Path) -> None:
    (folder / "documents").mkdir(parents=True)
    (folder / "documents" / "00_Contract.txt").write_text(
        "Contract\n\n" + "\n\n".join(" ".join(page.split()) for page in CONTRACT_PAGES)
    )
    (folder / "documents" / "01_Parking.txt").write_text(
        "Parking\n\nParking permits are renewed every January at the front desk. "
        "Visitors park in the north lot."
    )
    questions = [
        (
            "a1",
            "How long is the notice period for termination?",
            "00_Contract.txt",
            ["ninety days"],
        ),
        ("a2", "How much is the monthly fee Acme pays?", "00_Contract.txt", ["12,500 euros"]),
        ("a3", "When are parking permits renewed?", "01_Parking.txt", ["every January"]),
        ("u1", "What is the notice period in the Initech agreement?", "00_Contract.txt", []),
        ("u2", "Where do Zorblax visitors park?", "01_Parking.txt", []),
    ]
    with (folder / "questions.jsonl").open("w") as handle:
        for qid, question, document, answers in questions:
            record = {
                "id": qid,
                "question": question,
                "document": document,
                "paragraph": 0,
                "answers": answers,
                "unanswerable": not answers,
            }
            handle.write(json.dumps(record) + "\n")


def test_answers_eval_prints_and_writes_every_mode(database_url: str, tmp_path: Path) -> None:
    write_squad(tmp_path / "tiny-squad")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAG_MODELS_DIR": str(MODELS_DIR),
        "RAG_LLM_TEMPERATURE": "0",
        "PYTHONPATH": str(REPO),
    }
    out = tmp_path / "answers.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "rag_core.eval", "answers", str(tmp_path / "tiny-squad"),
            "--modes", "extractive,auto", "--model-questions", "2", "--json", str(out),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tiny-squad: 5 questions sampled, 2 files"
    assert lines[1].split() == ["extractive", "auto"]
    payload = json.loads(out.read_text())
    extractive = payload["results"]["extractive"]["summary"]
    assert (extractive["answerable"], extractive["unanswerable"]) == (3, 2)
    # Easy questions: the quoted evidence holds every gold answer, from the right file.
    assert extractive["gold_contained"] == 1.0
    assert extractive["file_cited"] == 1.0
    assert extractive["false_abstention"] == 0.0
    # Both questions name something no document has: both abstain.
    assert extractive["abstention_unanswerable"] == 1.0
    assert extractive["runaway_answers"] == 0
    assert extractive["sentences_verified"] is None  # no model in this mode
    auto = payload["results"]["auto"]["summary"]
    assert (auto["answerable"], auto["unanswerable"]) == (2, 2)
    assert auto["first_text_p50_s"] <= auto["full_answer_p50_s"]
    rows = payload["results"]["auto"]["rows"]
    assert {"answer", "abstained", "contains_gold", "written", "verified"} <= set(rows[0])


def write_library(folder: Path) -> None:
    """Two PDFs of three pages and a text file, four questions on their pages."""
    make_pdf(
        folder / "files" / "contract.pdf",
        [
            "Master services agreement between Acme and Globex.",
            "Either party may end this agreement with ninety days written notice.",
            "Globex pays Acme a monthly fee of 12,500 euros, due on the first day.",
        ],
    )
    make_pdf(
        folder / "files" / "handbook.pdf",
        [
            "Clinic handbook for nursing staff.",
            "Paracetamol for adults: at most 4 grams in 24 hours.",
            "The fire assembly point is the car park behind the pharmacy.",
        ],
    )
    (folder / "notes.txt").write_text("The server room door code changes every quarter.")
    (folder / "README.md").write_text("About this set: not a document of the library.")
    questions = [
        ("q1", "How much notice is needed to terminate?", "contract.pdf", 2, "legal"),
        ("q2", "What is the monthly fee Globex pays?", "contract.pdf", 3, "legal"),
        ("q3", "What is the maximum paracetamol dose?", "handbook.pdf", 2, "clinical"),
        ("q4", "How often does the door code change?", "notes.txt", None, "clinical"),
    ]
    with (folder / "questions.jsonl").open("w") as handle:
        for qid, text, file, page, kind in questions:
            evidence = {"file": file, **({"page": page} if page else {})}
            record = {"id": qid, "question": text, "evidence": [evidence], "question_type": kind}
            handle.write(json.dumps(record) + "\n")


@pytest.mark.models
def test_library_eval_scores_pages_beside_the_plain_baselines(
    database_url: str, tmp_path: Path
) -> None:
    write_library(tmp_path / "tiny-library")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAG_MODELS_DIR": str(MODELS_DIR),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    out = tmp_path / "library.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "rag_core.eval", "library", str(tmp_path / "tiny-library"),
            "--k", "5", "--json", str(out),
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tiny-library: 3 files, 4 questions"  # the README is no document
    assert [line.split()[0] for line in lines[2:7]] == [
        "hybrid", "vector", "fulltext", "bm25-500", "vector-500",
    ]  # fmt: skip
    assert "page@5 by question type" in done.stdout
    results = json.loads(out.read_text())["results"]
    for mode in ("hybrid", "vector-500", "bm25-500"):
        summary = results[mode]["summary"]
        # Easy questions: every one finds its file, and its page where it has one.
        assert summary["file@5"] == 1.0, mode
        assert summary["page@5"] == 1.0, mode
    hybrid = results["hybrid"]["rows"]
    assert [row["page@1"] for row in hybrid] == [1.0, 1.0, 1.0, None]  # a text file: no page
    assert results["hybrid"]["summary"]["page_mrr"] == 1.0
    assert results["hybrid"]["summary"]["expanded"] == 0  # close questions ask no model

    # Evidence naming a file the folder does not hold is refused with the file's name.
    with (tmp_path / "tiny-library" / "questions.jsonl").open("a") as handle:
        handle.write(json.dumps({"question": "?", "evidence": [{"file": "gone.pdf"}]}) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "rag_core.eval", "library", str(tmp_path / "tiny-library")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "gone.pdf" in done.stderr
