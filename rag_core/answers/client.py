"""The answer model as the generation service serves it (`answers.service`).

`ServiceGenerator` streams an answer from the service over its Unix socket; when no
service answers there, it starts one (under a lock, so two askers start one) and waits
until the model is loaded.  A service that ends mid-answer (killed, out of memory)
raises `GenerationFailed` for that answer: the quotes stand, and the next question
starts the service again.  Closing the stream (a reader who left) closes the
connection, which ends the generation at the next token.

A person comes first.  The service answers one request at a time, so a person whose
question arrives while the quality worker's answer is being written would wait for it
(measured: 4.8 s for an answer of 0.7 s).  A client for a person holds a shared lock on
`generation.foreground` (`turn`) while its request waits and is served, and the chat
holds it from the question's search (which may ask the model for words) to the
answer's end; a
`background` client (the quality worker's) sends nothing while a person holds it, and
looks at it after every piece it reads: when a person holds it, it closes its stream and
raises `GaveWay`.  Its generation ends at the next token, the person's is served next,
and the worker asks again once they are answered.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from rag_core.answers.generation import (
    COMPLETION_STOPS,
    THREAD_WAIT,
    GenerationParams,
    guarded_stream,
)
from rag_core.answers.prompting import Prompt
from rag_core.errors import GaveWay, GenerationFailed, ModelNotFound
from rag_core.modelfiles import require_usable
from rag_core.settings import Settings

log = logging.getLogger(__name__)

_PROJECT = Path(__file__).resolve().parents[2]
# Services this process started on demand (a test stops them with the test).
STARTED: list[subprocess.Popen[bytes]] = []
_START_SECONDS = 180.0  # loading 1 GB and warming it on a busy 2-core machine
_FOREGROUND = "generation.foreground"  # locked (shared) by a person's request in turn
_PEOPLE_FIRST_SECONDS = 120.0


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def service_environment(settings: Settings) -> dict[str, str]:
    """The environment of a service started for `settings`: the model settings are
    passed on, so the service serves the model this process was configured with."""
    env = dict(os.environ)
    env.update(
        {
            "RAG_DATA_DIR": str(settings.data_dir),
            "RAG_MODELS_DIR": str(settings.models_dir),
            "RAG_LLM_MODEL_PATH": str(settings.llm_path),
            "RAG_LLM_CONTEXT_TOKENS": str(settings.llm_context_tokens),
            "RAG_LLM_PROMPT_LOOKUP": str(settings.llm_prompt_lookup).lower(),
            "RAG_LOG_LEVEL": settings.log_level,
        }
    )
    for name, value in THREAD_WAIT.items():
        env.setdefault(name, value)
    if settings.llm_threads:
        env["RAG_LLM_THREADS"] = str(settings.llm_threads)
    return env


class ServiceGenerator:
    """Answers written by the shared generation service; holds no model itself."""

    def __init__(self, settings: Settings, params: GenerationParams) -> None:
        self.settings = settings
        self.params = params
        self.model_path = settings.llm_path
        self.socket = settings.generation_socket
        self._template: bool | None = None
        self._bias: dict[str, float] = {}  # keeps the refusal out of an answer
        self._model_confirmed = False  # the service on the socket was seen serving ours
        self.background = False  # gives way to a person's request (the quality worker)
        self.gave_way = 0  # how often this client's streams gave way

    # --- the service ---------------------------------------------------------------
    def ensure_running(self) -> None:
        """Start the service unless one listens; returns once it answers.  Raises
        ModelNotFound with the service's own reason when it cannot start.  A service
        left serving another model (the settings changed) is stopped and replaced."""
        if _listening(self.socket):
            if self._serves_our_model():
                return
            self._stop_other()
        require_usable(self.model_path)  # a clear line, without starting anything
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        with (self.socket.parent / "generation.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one asker starts it; the others wait
            if _listening(self.socket):
                return
            if self._starting():  # started by `make run` a moment ago: wait for it
                self._wait(None, self.socket.parent / "logs" / "generation.log")
                return
            self._start()

    def _starting(self) -> bool:
        """Whether a service holds its pid file's lock (it is loading its model)."""
        try:
            with self.socket.with_suffix(".pid").open("r") as pid:
                fcntl.flock(pid, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False

    def _model_info(self) -> dict[str, Any]:
        with self._client(60.0) as client:
            info: dict[str, Any] = client.get("/appliance/model").json()
        return info

    def _serves_our_model(self) -> bool:
        """Asked once per client, not on every question."""
        if self._model_confirmed:
            return True
        try:
            self._model_confirmed = self._model_info().get("file") == self.model_path.name
        except httpx.HTTPError:
            return True  # busy or ending: the request itself will tell
        return self._model_confirmed

    def _stop_other(self) -> None:
        log.warning("the generation service serves another model: it is restarted")
        self.stop()

    def stop(self) -> None:
        """Stop the service on this socket, if one runs; returns once it is gone."""
        pid_file = self.socket.with_suffix(".pid")
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 60
        while _listening(self.socket) and time.monotonic() < deadline:
            time.sleep(0.2)

    def _start(self) -> None:
        logs = self.socket.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_file = logs / "generation.log"
        log.info("starting the generation service (%s)", self.model_path.name)
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rag_core.answers.service",
                    "--idle-exit-minutes",
                    str(self.settings.generation_idle_minutes),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=service_environment(self.settings),
                cwd=_PROJECT,  # where `rag_core` imports from, whatever this process's cwd
                start_new_session=True,  # it outlives a page reload or a CLI call
            )
        STARTED.append(process)
        self._wait(process, log_file)

    def _wait(self, process: subprocess.Popen[bytes] | None, log_file: Path) -> None:
        """Until the service listens; raises when `process` ends first or time runs out."""
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if _listening(self.socket):
                return
            if process is not None and process.poll() is not None:
                if self._starting():  # it found another one starting, and left to it
                    process = None
                    continue
                raise ModelNotFound(self._why_it_ended(log_file))
            if process is None and not self._starting():
                raise GenerationFailed(
                    f"The generation service ended while it started; its log is {log_file}."
                )
            time.sleep(0.2)
        raise GenerationFailed(
            f"The generation service did not start within {_START_SECONDS:.0f} s; its log "
            f"is {log_file}."
        )

    @staticmethod
    def _why_it_ended(log_file: Path) -> str:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        reason = next((ln[7:] for ln in reversed(lines) if ln.startswith("error: ")), None)
        return reason or f"The generation service could not start; its log is {log_file}."

    def _client(self, read_seconds: float = 600.0) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url="http://generation",
            timeout=httpx.Timeout(read_seconds, connect=5.0),
        )

    # --- what the chat uses ----------------------------------------------------------
    def warm(self) -> None:
        self.ensure_running()

    @property
    def uses_chat_template(self) -> bool:
        """True when prompts go through the GGUF's chat template (the service says)."""
        if self._template is None:
            self.ensure_running()
            info = self._model_info()
            self._template = self.settings.llm_prompt_format == "auto" and bool(
                info.get("chat_template")
            )
            self._bias = info.get("answer_bias", {}).get(
                "chat" if self._template else "completion", {}
            )
        return self._template

    def stream(
        self, prompt: Prompt, *, answer: bool = False, max_tokens: int | None = None
    ) -> Iterator[str]:
        """Answer text, piece by piece, as the service streams it (loop-guarded);
        `answer`: the refusal's first token is kept out; `max_tokens`: at most this
        many (None: the answer's length cap)."""
        return guarded_stream(self._stream(prompt, answer, max_tokens), self.params.loop_guard)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """A person's request: held while it waits for the model and is served, so a
        background stream gives way (nothing for a background client)."""
        held = None if self.background else self._turn_file()
        if held is None:
            yield
            return
        with held:
            fcntl.flock(held, fcntl.LOCK_SH)  # shared: people do not wait for each other
            yield

    def _turn_file(self) -> Any:
        """The file whose lock is a person's turn, or None where this process may not
        write it: the answer then goes on without a turn, never fails for it."""
        try:
            self.socket.parent.mkdir(parents=True, exist_ok=True)
            return (self.socket.parent / _FOREGROUND).open("a")
        except OSError as exc:
            log.warning("no turn for people first (%s): answers are served in order", exc)
            return None

    def _after_people(self) -> None:
        """A background request is sent once no person holds a turn (at most
        `_PEOPLE_FIRST_SECONDS` later: a turn left open does not stop the worker)."""
        probe = self._turn_file() if self.background else None
        if probe is None:
            return
        with probe:
            deadline = time.monotonic() + _PEOPLE_FIRST_SECONDS
            while _person_waiting(probe) and time.monotonic() < deadline:
                time.sleep(0.05)

    def refusal(self, prompt: Prompt) -> float:
        chat = self.uses_chat_template
        body = {"system": prompt.system, "user": prompt.user, "chat": chat}
        for attempt in (1, 2):
            self.ensure_running()
            self._after_people()
            try:
                with self.turn(), self._client() as client:
                    response = client.post("/appliance/refusal", json=body)
            except httpx.ConnectError as exc:
                if attempt == 2:
                    raise self._unreachable() from exc
                time.sleep(0.5)
                continue
            except httpx.TransportError as exc:
                raise GenerationFailed(
                    "The answer model stopped while reading the evidence (the generation "
                    "service ended). Ask again: the next question starts it anew."
                ) from exc
            if response.status_code != 200:
                log.error("generation service: %s %s", response.status_code, response.text)
                raise GenerationFailed("The generation service refused the question.")
            return float(response.json()["probability"])
        raise AssertionError("unreachable")

    def _unreachable(self) -> GenerationFailed:
        return GenerationFailed(
            "The generation service could not be reached; its log is "
            f"{self.socket.parent / 'logs' / 'generation.log'}."
        )

    def _body(
        self, prompt: Prompt, answer: bool, max_tokens: int | None
    ) -> tuple[str, dict[str, Any]]:
        chat = self.uses_chat_template  # asks the service once: also learns the bias
        sampling: dict[str, Any] = {
            "max_tokens": max_tokens or self.params.max_answer_tokens,
            "temperature": self.params.temperature,
            "repeat_penalty": self.params.repeat_penalty,
            "frequency_penalty": self.params.frequency_penalty,
            "stream": True,
        }
        if answer:
            sampling["logit_bias"] = self._bias
        if chat:
            return "/v1/chat/completions", {"messages": prompt.messages(), **sampling}
        body = {"prompt": prompt.as_completion(), "stop": COMPLETION_STOPS, **sampling}
        return "/v1/completions", body

    def _stream(self, prompt: Prompt, answer: bool, max_tokens: int | None) -> Iterator[str]:
        path, body = self._body(prompt, answer, max_tokens)
        for attempt in (1, 2):
            self.ensure_running()
            self._after_people()
            try:
                with self.turn():
                    yield from self._post(path, body)
                return
            except httpx.ConnectError as exc:
                # Nothing was written yet: a service that was ending as we looked
                # (killed a moment ago) is started again once.
                if attempt == 2:
                    raise self._unreachable() from exc
                time.sleep(0.5)

    def _post(self, path: str, body: dict[str, Any]) -> Iterator[str]:
        probe = self._turn_file() if self.background else None
        try:
            with self._client() as client, client.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    log.error("generation service: %s %s", response.status_code, response.text)
                    raise GenerationFailed("The generation service refused the question.")
                for line in response.iter_lines():
                    if probe is not None and _person_waiting(probe):
                        self.gave_way += 1
                        raise GaveWay("The answer gave way to a person's question.")
                    piece = _piece(line)
                    if piece:
                        yield piece
        except httpx.ConnectError:
            raise
        except httpx.TransportError as exc:
            raise GenerationFailed(
                "The answer model stopped while writing (the generation service ended). "
                "Ask again: the next question starts it anew."
            ) from exc
        finally:
            if probe is not None:
                probe.close()


def _person_waiting(probe: Any) -> bool:
    """Whether a person's request holds its turn (`ServiceGenerator.turn`) now."""
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(probe, fcntl.LOCK_UN)
    return False


def _piece(line: str) -> str | None:
    """The text of one server-sent event line of a streamed completion."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    choice = json.loads(data)["choices"][0]
    if "delta" in choice:
        return choice["delta"].get("content")  # type: ignore[no-any-return]
    return choice.get("text")  # type: ignore[no-any-return]
