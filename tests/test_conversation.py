"""Follow-up questions made stand-alone, and the question's words found in passages."""

from collections.abc import Iterator

import pytest

from rag_core.answers.conversation import (
    ModelRewriter,
    Turn,
    acceptable_rewrite,
    is_follow_up,
    next_turn,
)
from rag_core.answers.generation import AnswerWriter
from rag_core.answers.highlight import highlight
from rag_core.settings import redact_url


@pytest.mark.parametrize(
    "question",
    [
        "and for children?",
        "And what about the landlord?",
        "what about invoices",
        "Is it renewable?",
        "Who signed it?",
        "How long does that last?",
    ],
)
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is the notice period for termination?",
        "Maximum paracetamol dose for children aged 6 to 12",
        "Which invoices are overdue?",
        "Andrew's contract: when does it end and who may terminate it early?",
    ],
)
def test_stand_alone_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_ups_join_the_topic_not_each_other() -> None:
    first = next_turn("What is the maximum paracetamol dose", None)
    assert not first.rewritten
    second = next_turn("and for children?", first)
    assert second.standalone == "What is the maximum paracetamol dose? and for children?"
    third = next_turn("what about infants?", second)
    assert third.standalone == "What is the maximum paracetamol dose? what about infants?"
    fresh = next_turn("Who may terminate the lease?", third)
    assert (fresh.standalone, fresh.topic) == ("Who may terminate the lease?",) * 2


def test_first_question_is_never_rewritten() -> None:
    assert next_turn("  and for children?  ", None).standalone == "and for children?"


def test_highlight_marks_question_words_and_keeps_the_text() -> None:
    text = "Either party may terminate by notice. The notice period for termination is 90 days."
    segments = highlight(text, "What is the notice period when terminating?")
    assert "".join(s.text for s in segments) == text
    assert [s.text for s in segments if s.match] == [
        "terminate",
        "notice",
        "notice",
        "period",
        "termination",
    ]


def test_highlight_ignores_filler_words() -> None:
    assert not any(s.match for s in highlight("What is in the file", "what is in the"))


def test_database_password_is_hidden() -> None:
    assert redact_url("postgresql://rag:s3cr:t@db:5432/rag") == "postgresql://rag:***@db:5432/rag"
    assert redact_url("postgresql:///rag?host=/run") == "postgresql:///rag?host=/run"


class _Writes:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def stream(self, prompt: object, *, answer: bool = False) -> Iterator[str]:
        self.calls += 1
        yield self.text


TOPIC = Turn(
    "What is the notice period for termination?",
    "What is the notice period for termination?",
    "What is the notice period for termination?",
)


@pytest.mark.parametrize(
    ("written", "searched"),
    [
        (
            "What is the notice period for termination by the landlord?",
            "What is the notice period for termination by the landlord?",
        ),
        # A word from neither question: the rule instead.
        (
            "What is the eviction period for the landlord?",
            "What is the notice period for termination? and for the landlord?",
        ),
        # Not one question.
        (
            "The landlord must give notice.",
            "What is the notice period for termination? and for the landlord?",
        ),
        ("", "What is the notice period for termination? and for the landlord?"),
    ],
)
def test_the_model_rewrites_a_follow_up_only_with_the_questions_words(
    written: str, searched: str
) -> None:
    writer = _Writes(written)
    rewrite = ModelRewriter(writer)  # type: ignore[arg-type]
    turn = next_turn("and for the landlord?", TOPIC, rewrite)
    assert turn.standalone == searched
    assert turn.topic == TOPIC.topic
    next_turn("and for the landlord?", TOPIC, rewrite)
    assert writer.calls == 1, "a repeated follow-up is rewritten once"


def test_a_stand_alone_question_is_not_given_to_the_model() -> None:
    writer = _Writes("anything?")
    turn = next_turn("Who cleans the offices?", TOPIC, ModelRewriter(writer))  # type: ignore[arg-type]
    assert turn.standalone == "Who cleans the offices?"
    assert writer.calls == 0


def test_the_default_model_rewrites_a_follow_up(generator: AnswerWriter) -> None:
    turn = next_turn("and for the landlord?", TOPIC, ModelRewriter(generator))
    assert turn.standalone != "What is the notice period for termination? and for the landlord?"
    assert "landlord" in turn.standalone.lower() and "notice" in turn.standalone.lower()
    assert acceptable_rewrite(turn.standalone, TOPIC.topic, "and for the landlord?")
