"""The answer model through llama.cpp: chat template and plain-completion fallback."""

from dataclasses import replace

from rag_core.answers.generation import Generator
from rag_core.answers.prompting import (
    EVIDENCE_SYSTEM_PROMPT,
    Prompt,
    build_prompt,
    says_no_answer,
)
from rag_core.search.hits import Hit

PASSAGE = Hit(
    chunk_id=1,
    document_id=1,
    title="contract.pdf",
    source="/drop/contract.pdf",
    page=2,
    page_end=2,
    chunk_index=1,
    text="The notice period for termination is ninety days.",
    score=0.8,
    fused_score=0.03,
    text_match=True,
)


def test_default_model_uses_its_own_chat_template(generator: Generator) -> None:
    assert generator.uses_chat_template
    prompt = build_prompt(
        "What is the notice period?", [PASSAGE], generator.count_tokens, generator.prompt_budget
    )
    answer = "".join(generator.stream(prompt))
    assert "ninety" in answer.lower() or "90" in answer


def test_plain_completion_prompt_for_models_without_a_template(generator: Generator) -> None:
    plain = Generator(
        generator.model_path,
        replace(generator.params, use_chat_template=False, max_answer_tokens=60),
    )
    assert not plain.uses_chat_template
    prompt = build_prompt(
        "What is the notice period?", [PASSAGE], plain.count_tokens, plain.prompt_budget
    )
    pieces = list(plain.stream(prompt))
    text = "".join(pieces)
    assert text.strip()
    # Stop sequences end the answer before the model invents a next question.
    assert "Question:" not in text and "Sources:" not in text


def _evidence_prompt(evidence: str, question: str) -> Prompt:
    return Prompt(
        EVIDENCE_SYSTEM_PROMPT, f"Evidence:\n[1] {evidence}\n\nQuestion: {question}\n", ()
    )


FEE = "The monthly fee for the clinic membership is 120 euros, payable in advance."


def test_the_model_says_how_likely_it_is_to_refuse(generator: Generator) -> None:
    answers = generator.refusal(_evidence_prompt(FEE, "How much is the monthly fee?"))
    refuses = generator.refusal(_evidence_prompt(FEE, "Who founded the clinic in 1952?"))
    assert 0.0 <= answers < 0.2
    assert 0.5 < refuses <= 1.0


def test_an_answer_that_may_not_refuse_does_not_open_with_the_refusal(
    generator: Generator,
) -> None:
    prompt = _evidence_prompt(FEE, "Who founded the clinic in 1952?")
    assert says_no_answer("".join(generator.stream(prompt)))  # left to itself, it refuses
    assert not "".join(generator.stream(prompt, answer=True)).strip().upper().startswith("NOT")
