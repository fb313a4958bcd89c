"""Answers from the real llama.cpp model over the real database."""

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.answers.chat import (
    ABSTAIN_MESSAGE,
    DECLINED_MESSAGE,
    SUMMARY_HEADING,
    AnswerMode,
    ChatService,
)
from rag_core.answers.evidence import EvidenceSelector
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

    def refusal(self, prompt: object) -> float:
        raise AssertionError("the model was called")

    def stream(self, prompt: object, *, answer: bool = False) -> Iterator[str]:
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
        assert logs[0].answer_mode == "auto"  # the default
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


class Writes:
    """An answer model that writes `text` in small pieces (then fails, if asked to), and
    says it would refuse with probability `refusal`."""

    model_path = Path("fake.gguf")

    def __init__(self, text: str, fail: bool = False, refusal: float = 0.0) -> None:
        self.text = text
        self.fail = fail
        self.probability = refusal
        self.streams: list[bool] = []  # `answer` of each stream asked for

    def refusal(self, prompt: object) -> float:
        return self.probability

    def stream(self, prompt: object, *, answer: bool = False) -> Iterator[str]:
        self.streams.append(answer)
        for start in range(0, len(self.text), 7):
            yield self.text[start : start + 7]
        if self.fail:
            from rag_core.errors import GenerationFailed

            raise GenerationFailed("The answer model stopped while writing. Ask again.")


NOTICE = "What is the notice period for termination?"
QUOTE = "“The notice period for termination is ninety days.” [1] (page 2)"


def test_the_default_model_writes_an_answer_the_code_cites(library: Services) -> None:
    answer = library.chat.ask(NOTICE, mode=AnswerMode.AUTO).complete()
    assert answer.text.startswith(QUOTE)
    shown = [v for v in answer.verdicts if v.verified]
    assert shown, answer.text
    assert "ninety" in shown[0].text.lower()
    assert shown[0].cites == (1,)
    written = answer.text.split(SUMMARY_HEADING, 1)[1]
    assert shown[0].rendered() in written


@pytest.mark.parametrize(
    ("written", "shown", "left_out"),
    [
        # A citation of no source: the code cites the one that bears it out.
        ("The notice period for termination is ninety days [7].", "ninety days [1].", 0),
        # The citation is the code's to write, not the model's.
        ("Termination needs ninety days of notice.", "ninety days of notice [1].", 0),
        ("```python\nnotice_days = 90\n```", None, 1),
        ("Le délai de préavis est de quatre-vingt-dix jours.", None, 1),
        ("", None, 0),
        ("90 [1].", None, 1),  # a figure alone says nothing checkable
    ],
)
def test_only_verified_sentences_are_written_under_the_quotes(
    library: Services, written: str, shown: str | None, left_out: int
) -> None:
    chat = replace_generator(library.chat, Writes(written))
    answer = chat.ask(NOTICE, mode=AnswerMode.AUTO).complete()
    assert answer.text.startswith(QUOTE)
    assert not answer.abstained
    if shown is None:
        assert SUMMARY_HEADING not in answer.text
    else:
        assert answer.text.split(SUMMARY_HEADING, 1)[1].strip().endswith(shown)
    assert sum(1 for v in answer.verdicts if not v.verified) == left_out
    if left_out:
        assert "left out: not found in the sources" in answer.text


def test_the_answer_evaluation_records_each_written_sentence_and_why_one_was_left_out(
    library: Services, tmp_path: Path
) -> None:
    from rag_core.eval.answers import Dataset, Question, run_mode

    writer = Writes("Termination needs ninety days of notice. The fee is paid in Lyon.")
    asking = replace(library, chat=replace_generator(library.chat, writer))
    question = Question("q1", NOTICE, ("ninety days",), "contract.pdf")
    dataset = Dataset("tiny", tmp_path, [question], figures_only=False)
    (row,) = run_mode(asking, dataset, [question], AnswerMode.AUTO.value, None)["rows"]
    assert row["written"] == 2 and row["verified"] == 1 and row["written_gold"]
    shown, left_out = row["sentences"]
    assert shown == {
        "text": "Termination needs ninety days of notice.",
        "verified": True,
        "reason": "",
    }
    assert left_out["text"] == "The fee is paid in Lyon." and not left_out["verified"]
    assert left_out["reason"]  # in words, e.g. "“Lyon” is not in the sources it cites"


def test_a_model_likely_to_refuse_abstains_without_writing(library: Services) -> None:
    model = Writes("NOT IN THE DOCUMENTS", refusal=0.9)
    chat = replace_generator(library.chat, model)
    assert chat.params.refusal_abstains_at <= 0.9
    stream = chat.ask(NOTICE, mode=AnswerMode.AUTO)
    answer = stream.complete()
    assert answer.abstained and stream.abstained
    assert answer.refusal == 0.9
    assert model.streams == []  # asked how likely it refuses, never to write
    assert answer.text.startswith(QUOTE)  # the nearest evidence stays on screen
    assert answer.text.endswith(DECLINED_MESSAGE)
    with library.db.session() as session:
        assert session.scalars(sa.select(QueryLog.abstained)).all() == [True]


def test_a_model_unlikely_to_refuse_must_answer(library: Services) -> None:
    model = Writes("The notice period for termination is ninety days.", refusal=0.3)
    chat = replace_generator(library.chat, model)
    answer = chat.ask(NOTICE, mode=AnswerMode.AUTO).complete()
    assert not answer.abstained
    assert model.streams == [True]  # written with the refusal kept out
    assert answer.text.split(SUMMARY_HEADING, 1)[1].strip().endswith("ninety days [1].")


def test_a_refusal_written_anyway_leaves_the_quotes(library: Services) -> None:
    chat = replace_generator(library.chat, Writes("The documents do not say.", refusal=0.1))
    answer = chat.ask(NOTICE, mode=AnswerMode.AUTO).complete()
    assert not answer.abstained
    assert answer.text == QUOTE
    assert answer.verdicts == ()


def test_the_model_reads_more_evidence_than_is_quoted(library: Services) -> None:
    stream = library.chat.ask(
        "What is the monthly fee and the notice period?", mode=AnswerMode.EXTRACTIVE
    )
    stream.complete()
    chat = library.chat
    selector = EvidenceSelector(
        chat.selector.embed, replace(chat.selector.params, model_sentences=5)
    )
    quoted, read = selector.select_both(
        "What is the monthly fee and the notice period?",
        library.chat.retriever.embed_query("What is the monthly fee and the notice period?"),
        stream.sources,
    )
    assert len(quoted) <= selector.params.max_sentences
    assert len(read) > len(quoted)
    assert read[: len(quoted)] == quoted  # what is quoted is read first


def test_a_model_that_stops_mid_answer_leaves_the_quotes_and_a_sentence(
    library: Services,
) -> None:
    chat = replace_generator(library.chat, Writes("The notice period is", fail=True))
    answer = chat.ask(NOTICE, mode=AnswerMode.AUTO).complete()
    assert answer.text.startswith(QUOTE)
    assert "the answer model could not be used" in answer.text
    assert "Ask again" in answer.text
