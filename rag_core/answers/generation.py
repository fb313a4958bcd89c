"""Prompt -> streamed answer text, with a local GGUF model through llama.cpp.

The model's own chat template (from the GGUF metadata) formats the conversation when
the file has one; a base model without one gets a plain completion prompt with stop
sequences.  Nothing here assumes one model family's format.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag_core.answers.loops import LoopGuard, guarded
from rag_core.answers.prompting import NO_ANSWER, Prompt
from rag_core.errors import ModelNotFound
from rag_core.modelfiles import require_usable

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

COMPLETION_STOPS = ["\nQuestion:", "\nSources:", "\nEvidence:", "\n\n"]

# llama.cpp's threads meet at a libgomp barrier after every step of every token.  By
# default a thread waiting there spins for 300,000 rounds (against a process that holds
# the other core: 3-12 tokens/s with 2 threads); OMP_WAIT_POLICY=PASSIVE sleeps at once
# and costs every token a wake-up even when the machine is idle.  A short spin keeps
# both: measured with the 1.5B, 2 threads, 2 cores (AMD EPYC, AVX-512 VNNI), tokens/s
# idle / beside one busy process: default 34-39 / 11-12, PASSIVE 22-24 / 21, 500 rounds
# 37 / 19 (1 thread: 26 / 26).  The policy is ACTIVE so that libgomp keeps the 500
# rounds when more of its threads exist than cores (without a policy it then spins 100:
# the service's requests run on worker threads that each bring their own team, and it
# wrote 23 tokens/s idle, not 37).  Read by libgomp when llama.cpp loads.
THREAD_WAIT = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "500"}
_BANNED = -100.0  # a logit bias no token overcomes


@dataclass(frozen=True)
class GenerationParams:
    context_tokens: int = 4096
    max_answer_tokens: int = 160
    temperature: float = 0.0  # the same answer to the same question (RAG_LLM_TEMPERATURE)
    repeat_penalty: float = 1.15  # llama.cpp's penalty on tokens already written
    frequency_penalty: float = 0.2
    loop_guard: bool = True  # end the stream when the text starts repeating itself
    threads: int | None = None  # None: all cores
    use_chat_template: bool = True  # when the GGUF has one


class AnswerWriter(Protocol):
    """What the chat needs of an answer model: this process's own (`Generator`) or the
    shared generation service (`client.ServiceGenerator`)."""

    model_path: Path

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        """The model's text; `answer`: it may not open with the refusal (`NO_ANSWER`);
        `max_tokens`: at most this many (None: the answer's length cap)."""
        ...

    def refusal(self, prompt: Prompt) -> float:
        """The model's probability of opening its answer to `prompt` with `NO_ANSWER`."""
        ...

    def warm(self) -> None: ...

    @property
    def uses_chat_template(self) -> bool: ...


def person_turn(writer: AnswerWriter) -> AbstractContextManager[object]:
    """A person's turn with the answer model, held across the calls of one answer so
    the quality worker's requests wait (`client.ServiceGenerator.turn`); nothing for a
    model of this process's own."""
    turn = getattr(writer, "turn", None)
    return turn() if turn is not None else contextlib.nullcontext()


def guarded_stream(pieces: Iterator[str], loop_guard: bool) -> Iterator[str]:
    """`pieces`, ended early once the text starts repeating itself."""
    if not loop_guard:
        yield from pieces
        return
    guard = LoopGuard()
    yield from guarded(pieces, guard)
    if guard.looped:
        log.info("the answer model started repeating itself: its answer was cut off")


def refusal_tokens(llm: Llama, chat: bool) -> list[int]:
    """The tokens an answer that refuses opens with ("NOT", "Not"; after "Answer:" in a
    completion prompt, with a space before)."""
    starts = [NO_ANSWER, NO_ANSWER.capitalize()]
    if not chat:
        starts += [f" {s}" for s in starts]
    ids = {llm.tokenize(s.encode("utf-8"), add_bos=False, special=False)[0] for s in starts}
    return sorted(ids)


def refusal_probability(llm: Llama, prompt: Prompt, chat: bool) -> float:
    """P(the first token of the answer opens the refusal), from the model's logits for
    that token: one evaluation of the prompt, which the answer that follows reuses
    (llama.cpp keeps the evaluated prompt for a prompt that starts the same way)."""
    ids = refusal_tokens(llm, chat)
    seen: list[float] = []

    def capture(_: Any, logits: Any) -> Any:
        if not seen:
            values = np.asarray(logits, dtype=np.float64)
            weights = np.exp(values - values.max())
            seen.append(float(weights[ids].sum() / weights.sum()))
        return logits

    once: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logits_processor": [capture]}
    if chat:
        llm.create_chat_completion(messages=prompt.messages(), **once)  # type: ignore[arg-type]
    else:
        llm.create_completion(prompt.as_completion(), **once)
    return seen[0] if seen else 0.0


def answer_bias(llm: Llama, chat: bool) -> dict[int, float]:
    """The logit bias that keeps the refusal's first token out of an answer."""
    return {token: _BANNED for token in refusal_tokens(llm, chat)}


class Generator:
    """A lazily loaded llama.cpp model.  One generation at a time: a llama.cpp context
    is not safe to share between threads, and Streamlit serves users on threads."""

    def __init__(self, model_path: Path, params: GenerationParams) -> None:
        self.model_path = model_path
        self.params = params
        self._llm: Llama | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def llm(self) -> Llama:
        with self._load_lock:
            if self._llm is None:
                self._llm = self._load()
            return self._llm

    def _load(self) -> Llama:
        require_usable(self.model_path)
        from llama_cpp import Llama

        try:
            llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.params.context_tokens,
                n_threads=self.params.threads,
                verbose=False,
            )
        except ValueError as exc:
            raise ModelNotFound(f"{self.model_path} could not be loaded as a GGUF model.") from exc
        log.info(
            "loaded answer model %s (chat template: %s)", self.model_path, self._uses_template(llm)
        )
        return llm

    def _uses_template(self, llm: Llama) -> bool:
        return self.params.use_chat_template and bool(llm.metadata.get("tokenizer.chat_template"))

    @property
    def uses_chat_template(self) -> bool:
        """True when prompts go through the GGUF's chat template."""
        return self._uses_template(self.llm)

    @property
    def prompt_budget(self) -> int:
        """Tokens the prompt may use, leaving room for the answer."""
        return self.params.context_tokens - self.params.max_answer_tokens - 64

    def warm(self) -> None:
        """Load the model now rather than at the first question."""
        self.count_tokens("warm-up")

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        """Answer text, piece by piece, as the model writes it; it ends at the length
        cap (`max_tokens`, else the answer's) or as soon as the text starts repeating
        itself (`loops.LoopGuard`).  `answer`: the refusal's first token is kept out."""
        return guarded_stream(self._stream(prompt, answer, max_tokens), self.params.loop_guard)

    def refusal(self, prompt: Prompt) -> float:
        llm = self.llm
        with self._run_lock:
            return refusal_probability(llm, prompt, self._uses_template(llm))

    def _sampling(self, llm: Llama, answer: bool, max_tokens: int | None) -> dict[str, Any]:
        sampling: dict[str, Any] = {
            "max_tokens": max_tokens or self.params.max_answer_tokens,
            "temperature": self.params.temperature,
            "repeat_penalty": self.params.repeat_penalty,
            "frequency_penalty": self.params.frequency_penalty,
            "stream": True,
        }
        if answer:
            sampling["logit_bias"] = answer_bias(llm, self._uses_template(llm))
        return sampling

    def _stream(self, prompt: Prompt, answer: bool, max_tokens: int | None) -> Iterator[str]:
        llm = self.llm
        with self._run_lock:
            if self._uses_template(llm):
                chunks: Iterator[Any] = llm.create_chat_completion(
                    messages=prompt.messages(),  # type: ignore[arg-type]
                    **self._sampling(llm, answer, max_tokens),
                )  # type: ignore[assignment]
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            else:
                chunks = llm.create_completion(
                    prompt.as_completion(),
                    stop=COMPLETION_STOPS,
                    **self._sampling(llm, answer, max_tokens),
                )  # type: ignore[assignment]
                for chunk in chunks:
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
