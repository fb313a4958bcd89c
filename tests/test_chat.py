"""Answers from the real llama.cpp model over the real database."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.chat import ABSTAIN_MESSAGE
from rag_core.db import QueryLog
from rag_core.errors import QuestionRejected
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


@pytest.fixture
def library(services: Services, tmp_path: Path) -> Services:
    make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    (tmp_path / "handbook.txt").write_text(CLINIC_TEXT)
    results = list(services.ingestor.ingest_paths([tmp_path]))
    assert [r.outcome.value for r in results] == ["ingested", "ingested"]
    return services


def test_answer_cites_the_right_page(library: Services) -> None:
    stream = library.chat.ask("What is the notice period for termination?")
    assert not stream.abstained
    assert stream.sources[0].title == "contract.pdf"
    assert stream.sources[0].page == 2
    pieces = list(stream)
    assert len(pieces) > 1  # streamed, not delivered in one block
    answer = stream.answer
    assert answer is not None
    assert answer.text == "".join(pieces).strip()
    assert "ninety" in answer.text.lower() or "90" in answer.text
    assert all(1 <= n <= len(answer.sources) for n in answer.cited)


def test_unrelated_question_abstains_without_the_model(library: Services) -> None:
    answer = library.chat.ask("Who won the football world cup in 1998?").complete()
    assert answer.abstained
    assert answer.text == ABSTAIN_MESSAGE
    assert answer.sources == ()


def test_every_question_is_logged(library: Services) -> None:
    answered = library.chat.ask("How much is the monthly fee?").complete()
    abstained = library.chat.ask("What is the airspeed of a swallow?").complete()
    with library.db.session() as session:
        logs = session.scalars(sa.select(QueryLog).order_by(QueryLog.id)).all()
        assert [entry.question for entry in logs] == [answered.question, abstained.question]
        assert [entry.abstained for entry in logs] == [False, True]
        assert logs[0].answer == answered.text
        assert logs[0].retrieved and {"chunk_id", "score"} <= set(logs[0].retrieved[0])
        assert all(entry.latency_ms and entry.latency_ms > 0 for entry in logs)
        assert logs[0].embedding is not None
    assert answered.query_id == logs[0].id


@pytest.mark.parametrize(
    ("question", "reason"),
    [("   ", "Please type a question"), ("why? " * 1000, "too long")],
)
def test_empty_or_huge_question_is_refused_politely(
    library: Services, question: str, reason: str
) -> None:
    with pytest.raises(QuestionRejected, match=reason):
        library.chat.ask(question)
