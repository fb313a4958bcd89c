"""Answers from the real llama.cpp model over the real database."""

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.answers.chat import ABSTAIN_MESSAGE, AnswerMode, ChatService
from rag_core.db import QueryLog
from rag_core.errors import QuestionRejected
from rag_core.services import Services
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


def replace_generator(chat: ChatService, generator: object) -> ChatService:
    other = copy.copy(chat)
    other.generator = generator  # type: ignore[assignment]
    return other


@pytest.fixture
def library(services: Services, tmp_path: Path) -> Services:
    make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    (tmp_path / "handbook.txt").write_text(CLINIC_TEXT)
    results = list(services.ingestor.ingest_paths([tmp_path]))
    assert [r.outcome.value for r in results] == ["ingested", "ingested"]
    return services


class NoModel:
    """An answer model that must not be called."""

    def stream(self, prompt: object) -> Iterator[str]:
        raise AssertionError("the model was called")


def test_auto_answer_quotes_the_evidence_with_its_page_first(library: Services) -> None:
    stream = library.chat.ask("What is the notice period for termination?", mode=AnswerMode.AUTO)
    assert not stream.abstained
    assert stream.sources[0].title == "contract.pdf"
    assert stream.sources[0].page == 2
    # The evidence is known, and shown, before the model writes anything.
    assert "ninety" in stream.evidence[0].text.lower()
    pieces = iter(stream)
    first = next(pieces)
    assert first.startswith("“") and "ninety" in first.lower() and "[1] (page 2)" in first
    rest = list(pieces)
    answer = stream.answer
    assert answer is not None
    assert answer.text == (first + "".join(rest)).strip()
    assert answer.mode == "auto"
    assert 1 in answer.cited
    assert all(1 <= n <= len(answer.sources) for n in answer.cited)
    # Whatever the model wrote is shown only where it verified.
    for verdict in answer.verdicts:
        assert (verdict.rendered() in answer.text) == verdict.verified


def test_extractive_answer_calls_no_model(library: Services) -> None:
    chat = replace_generator(library.chat, NoModel())
    answer = chat.ask("How much is the monthly fee?", mode=AnswerMode.EXTRACTIVE).complete()
    assert not answer.abstained
    assert answer.text.startswith("“")
    assert answer.verdicts == ()


def test_generative_answer_shows_only_verified_sentences(library: Services) -> None:
    answer = library.chat.ask(
        "What is the notice period for termination?", mode=AnswerMode.GENERATIVE
    ).complete()
    assert not answer.abstained
    shown = [v for v in answer.verdicts if v.verified]
    if shown:
        assert all(v.rendered() in answer.text for v in shown)
    else:  # nothing the model wrote verified: the evidence instead
        assert answer.text.startswith("“")
    for verdict in answer.verdicts:
        if not verdict.verified:
            assert verdict.rendered() not in answer.text


def test_a_name_no_document_mentions_abstains(library: Services) -> None:
    answer = library.chat.ask(
        "What is the termination notice period in the Initech supply agreement?"
    ).complete()
    assert answer.abstained
    assert "“Initech”" in answer.text
    assert answer.sources  # the nearest passages, for the reader to check
    with library.db.session() as session:
        entry = session.scalars(sa.select(QueryLog)).one()
        assert entry.abstained


def test_unrelated_question_abstains_without_the_model(library: Services) -> None:
    chat = replace_generator(library.chat, NoModel())
    answer = chat.ask("Who won the football world cup in 1998?").complete()
    assert answer.abstained
    assert answer.text == ABSTAIN_MESSAGE
    assert len(answer.sources) <= 3  # the nearest passages, none close enough


def test_every_question_is_logged(library: Services) -> None:
    answered = library.chat.ask("How much is the monthly fee?").complete()
    abstained = library.chat.ask("What is the airspeed of a swallow?").complete()
    with library.db.session() as session:
        logs = session.scalars(sa.select(QueryLog).order_by(QueryLog.id)).all()
        assert [entry.question for entry in logs] == [answered.question, abstained.question]
        assert [entry.abstained for entry in logs] == [False, True]
        assert logs[0].answer_mode == "extractive"  # the default
        assert logs[0].sentences_verified <= logs[0].sentences_written
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


def test_a_missing_answer_model_leaves_the_quoted_evidence(
    library: Services, tmp_path: Path
) -> None:
    from rag_core.answers.generation import Generator

    missing = Generator(tmp_path / "gone.gguf", library.generator.params)
    chat = replace_generator(library.chat, missing)
    answer = chat.ask(
        "What is the notice period for termination?", mode=AnswerMode.GENERATIVE
    ).complete()
    assert not answer.abstained
    assert answer.text.startswith("“The notice period for termination is ninety days.” [1]")
    assert "the answer model could not be used" in answer.text
    assert "gone.gguf" in answer.text
