"""The shared generation service: one model for every client, served in order, freed
when a client leaves, started again after it was killed.  Runs the real service
process (`python -m rag_core.answers.service`) on the small SmolLM2 model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rag_core.answers.client import ServiceGenerator, service_environment
from rag_core.answers.generation import Generator
from rag_core.answers.prompting import Prompt
from rag_core.answers.service import FreeCores
from rag_core.errors import GaveWay, GenerationFailed, ModelNotFound
from rag_core.services import generation_params
from rag_core.settings import Settings

MODELS_DIR = Path(__file__).resolve().parent.parent / "models_cache"
STORY = Prompt(
    "You are a storyteller.", "Write a long story about a lighthouse keeper and his cat.", ()
)


def _prompt(fact: str, question: str) -> Prompt:
    return Prompt("Answer from the evidence in one sentence.", f"Evidence: {fact}\n{question}", ())


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceGenerator]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        models_dir=MODELS_DIR,
        answer_model="smollm2-135m",
        llm_temperature=0.0,
        llm_max_answer_tokens=200,
    )
    client = ServiceGenerator(settings, replace(generation_params(settings), loop_guard=False))
    yield client
    client.stop()


def _pid(client: ServiceGenerator) -> int:
    return int(client.socket.with_suffix(".pid").read_text())


def _log(client: ServiceGenerator) -> str:
    return (client.socket.parent / "logs" / "generation.log").read_text()


def test_the_first_question_starts_the_service_and_two_askers_are_both_served(
    service: ServiceGenerator,
) -> None:
    answers: dict[str, str] = {}

    def ask(name: str, prompt: Prompt) -> None:
        answers[name] = "".join(service.stream(prompt))

    askers = [
        threading.Thread(
            target=ask,
            args=("fee", _prompt("The monthly fee is 120 euros.", "What is the monthly fee?")),
        ),
        threading.Thread(
            target=ask,
            args=("city", _prompt("The office is in Lyon.", "Where is the office?")),
        ),
    ]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=300)
    assert "120" in answers["fee"]
    assert "Lyon" in answers["city"]
    assert _log(service).count("generation service:") == 1, "one service for both"


def test_a_client_that_leaves_mid_answer_frees_the_model(service: ServiceGenerator) -> None:
    stream = service.stream(STORY)
    first = next(stream)
    assert first
    stream.close()  # the reader left: the connection closes
    after = "".join(service.stream(_prompt("The office is in Lyon.", "Where is the office?")))
    assert "Lyon" in after
    assert "Disconnected from client" in _log(service)


def test_a_killed_service_fails_that_answer_and_the_next_question_starts_it_again(
    service: ServiceGenerator,
) -> None:
    stream = service.stream(STORY)
    next(stream)
    killed = _pid(service)
    os.kill(killed, signal.SIGKILL)
    with pytest.raises(GenerationFailed, match="Ask again"):
        for _ in stream:
            pass
    again = "".join(service.stream(_prompt("The office is in Lyon.", "Where is the office?")))
    assert "Lyon" in again
    assert _pid(service) != killed


def test_a_second_service_for_the_same_folder_leaves_the_first_serving(
    service: ServiceGenerator,
) -> None:
    service.warm()
    first = _pid(service)
    second = subprocess.run(
        [sys.executable, "-m", "rag_core.answers.service"],
        env=service_environment(service.settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0
    assert "one already runs" in second.stdout
    assert _pid(service) == first
    assert "Lyon" in "".join(service.stream(_prompt("The office is in Lyon.", "Where is it?")))


def test_the_service_threads_spin_briefly_before_they_sleep(
    service: ServiceGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libgomp reads these as llama.cpp loads: the short spin wrote 37 tokens/s idle on
    # 2 cores where PASSIVE wrote 23 (`generation.THREAD_WAIT`).
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    service.warm()
    environ = Path(f"/proc/{_pid(service)}/environ").read_bytes().split(b"\0")
    assert b"OMP_WAIT_POLICY=ACTIVE" in environ
    assert b"GOMP_SPINCOUNT=500" in environ
    # An operator's own setting is passed on as it is.
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert service_environment(service.settings)["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_quality_workers_answer_gives_way_to_a_persons(service: ServiceGenerator) -> None:
    worker = ServiceGenerator(service.settings, service.params)
    worker.background = True  # as `eval site work` makes it
    story = worker.stream(STORY)
    assert next(story)  # the worker's answer is being written
    with service.turn():  # a person's question comes
        with pytest.raises(GaveWay):
            for _ in story:
                pass
        assert worker.gave_way == 1
        # While the person's turn lasts, the worker sends nothing more.
        later: list[str] = []
        waiting = threading.Thread(
            target=lambda: later.append("".join(worker.stream(_prompt("It is 9 am.", "Time?"))))
        )
        waiting.start()
        waiting.join(timeout=2.0)
        assert waiting.is_alive() and not later
        office = _prompt("The office is in Lyon.", "Where is the office?")
        assert "Lyon" in "".join(service.stream(office))
    waiting.join(timeout=120)
    assert later and later[0]  # then it is served
    assert worker.gave_way == 1


def test_an_answer_goes_on_where_the_persons_turn_cannot_be_taken(
    service: ServiceGenerator,
) -> None:
    service.socket.parent.mkdir(parents=True, exist_ok=True)
    (service.socket.parent / "generation.foreground").mkdir()  # cannot be opened as a file
    office = _prompt("The office is in Lyon.", "Where is the office?")
    assert "Lyon" in "".join(service.stream(office))


def test_a_model_that_cannot_be_used_is_one_clear_line(tmp_path: Path) -> None:
    broken = tmp_path / "models"
    broken.mkdir()
    (broken / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").write_bytes(b"GGUF" * 100)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        models_dir=broken,
    )
    client = ServiceGenerator(settings, generation_params(settings))
    with pytest.raises(ModelNotFound, match=r"incomplete\. Run `make models`"):
        client.warm()


@pytest.mark.parametrize(("running", "threads"), [(1, 2), (2, 1), (5, 1)])
def test_an_answer_uses_the_cores_other_processes_leave_free(
    running: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `running` counts the service's own reading thread too.
    monkeypatch.setattr(FreeCores, "_running", staticmethod(lambda: running))
    assert FreeCores(cores=2, samples=3).threads(most=2) == threads
    assert FreeCores(cores=2, samples=3).threads(most=1) == 1


# SmolLM2 does not refuse on cue, but it repeats: its answer opens with "Not".
OPENS_WITH_NOT = Prompt("You are helpful.", 'Repeat after me: "Not today."', ())


def test_the_service_says_how_likely_the_model_is_to_refuse_as_the_model_does(
    service: ServiceGenerator,
) -> None:
    local = Generator(service.model_path, service.params)
    lyon = _prompt("The office is in Lyon.", "Where is the office?")
    assert service.refusal(OPENS_WITH_NOT) == pytest.approx(local.refusal(OPENS_WITH_NOT), abs=0.02)
    assert service.refusal(lyon) == pytest.approx(local.refusal(lyon), abs=0.02)
    assert service.refusal(lyon) < 0.1 < service.refusal(OPENS_WITH_NOT)


def test_an_answer_through_the_service_may_be_kept_from_refusing(
    service: ServiceGenerator,
) -> None:
    assert "".join(service.stream(OPENS_WITH_NOT)).startswith("Not")
    assert not "".join(service.stream(OPENS_WITH_NOT, answer=True)).startswith(("Not", "NOT"))
