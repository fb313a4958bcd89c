"""The generation service: one answer model in memory for the whole appliance.

    python -m rag_core.answers.service [--idle-exit-minutes N]

llama-cpp-python's own server (`llama_cpp.server`: OpenAI-compatible, streaming,
grammars, prompt-lookup decoding) on a Unix socket in the data folder, so only this
machine's users with access to that folder reach it.  The app, the HTTP API and the
command line are its clients (`answers.client`); the watcher and its helpers never load
the model.  Requests are served one at a time, in order (`interrupt_requests` off); a
client that disconnects mid-stream ends its generation at the next token.

What this module adds to the server:
- the model file is checked first (`modelfiles.require_usable`: missing, partial or a
  wrong hash is refused in one line);
- a short spin before llama.cpp loads (`generation.THREAD_WAIT`): a thread waiting for
  the other spins about 500 rounds, then sleeps, so it neither spins against other
  work nor pays a wake-up per step when the machine is idle;
- threads per answer from the cores actually free (`FreeCores`: the runnable tasks
  the kernel counts at that moment), since a thread that waits for a busy core slows
  every token;
- `/appliance/refusal`: how likely the model is to refuse a prompt (the first token's
  probability, which the server's API does not give without keeping every token's
  logits), so a client decides whether to abstain before the model writes;
- the fixed start of every evidence prompt is evaluated once at start, so llama.cpp's
  prompt-prefix reuse makes it free for the first question too;
- with `--idle-exit-minutes`, it ends after that long without a request (a service
  started on demand by a client does not outlive its use).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rag_core.answers.generation import THREAD_WAIT, answer_bias, refusal_probability
from rag_core.answers.prompting import EVIDENCE_SYSTEM_PROMPT, Prompt
from rag_core.errors import RagError
from rag_core.modelfiles import require_usable
from rag_core.serving import StoppableServer
from rag_core.settings import Settings

log = logging.getLogger(__name__)

MODEL_ALIAS = "answer-model"


class RefusalRequest(BaseModel):
    system: str
    user: str
    chat: bool = True  # through the model's chat template (when it has one)


class FreeCores:
    """How many cores other processes leave free right now: the runnable tasks the
    kernel counts (/proc/loadavg's "running/total"), sampled a few times over a few
    milliseconds, less the one reading it.  Instant, unlike the load average: the
    process asking the question is waiting for the answer, and its work a moment ago
    (embedding the question) does not count against the answer's threads."""

    def __init__(self, cores: int | None = None, samples: int = 5) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.samples = samples

    @staticmethod
    def _running() -> int | None:
        try:
            fields = Path("/proc/loadavg").read_text().split()
            return int(fields[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None

    def others(self) -> int:
        counts = []
        for _ in range(self.samples):
            running = self._running()
            if running is None:
                return 0
            counts.append(running - 1)  # less this process, reading
            time.sleep(0.005)
        return max(0, sorted(counts)[len(counts) // 2])

    def threads(self, most: int) -> int:
        """Threads to use now: the cores others leave free, at least 1, at most `most`."""
        return max(1, min(most, self.cores - self.others()))


def _model_settings(settings: Settings, threads: int) -> Any:
    from llama_cpp.server.settings import ModelSettings

    return ModelSettings(
        model=str(settings.llm_path),
        model_alias=MODEL_ALIAS,
        n_ctx=settings.llm_context_tokens,
        n_threads=threads,
        n_threads_batch=threads,
        use_mmap=False,  # read once into memory: no page faults while answering
        draft_model="prompt-lookup-decoding" if settings.llm_prompt_lookup else None,
        draft_model_num_pred_tokens=10,
        chat_format=None,  # the GGUF's own chat template
        logits_all=False,  # the server's default keeps every prompt token's logits
        verbose=False,
    )


def build_app(settings: Settings, free: FreeCores) -> Any:
    """The llama.cpp server app with the model loaded and warmed."""
    import llama_cpp.server.app as server_app
    from llama_cpp import llama_set_n_threads
    from llama_cpp.server.settings import ServerSettings

    require_usable(settings.llm_path)
    most = settings.llm_threads or free.cores
    app = server_app.create_app(
        server_settings=ServerSettings(interrupt_requests=False, disable_ping_events=True),
        model_settings=[_model_settings(settings, most)],
    )
    llm = server_app._llama_proxy(MODEL_ALIAS)  # type: ignore[misc]  # the server's model
    _warm(llm)
    last_request = [time.monotonic()]

    @app.middleware("http")  # type: ignore[untyped-decorator]
    async def note_request(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        last_request[0] = time.monotonic()
        response = await call_next(request)
        last_request[0] = time.monotonic()
        return response

    # Threads are chosen where the server has taken the model for one request (under
    # its lock), so a request waiting its turn never changes the one being written.
    prepare = server_app.prepare_request_resources

    def prepare_with_threads(*args: Any, **kwargs: Any) -> Any:
        threads = free.threads(most)
        llama_set_n_threads(llm.ctx, threads, threads)
        return prepare(*args, **kwargs)

    server_app.prepare_request_resources = prepare_with_threads

    template = bool(llm.metadata.get("tokenizer.chat_template"))

    # The logit bias that keeps the refusal's first token out of an answer, per format.
    bias = {
        "chat": answer_bias(llm, True) if template else {},
        "completion": answer_bias(llm, False),
    }

    @app.get("/appliance/model")  # type: ignore[untyped-decorator]
    def model_info() -> dict[str, Any]:
        """Which model answers, whether it has a chat template of its own, and the
        logit bias of an answer that may not refuse."""
        return {"file": settings.llm_path.name, "chat_template": template, "answer_bias": bias}

    @app.post("/appliance/refusal")  # type: ignore[untyped-decorator]
    async def refusal(body: RefusalRequest) -> dict[str, Any]:
        """The model's probability of refusing to answer `body` (see
        `generation.refusal_probability`); in turn with the answers being written."""
        from starlette.concurrency import run_in_threadpool

        prompt = Prompt(body.system, body.user, ())
        chat = template and body.chat
        async with contextlib.asynccontextmanager(server_app.get_llama_proxy)() as proxy:
            model = proxy(MODEL_ALIAS)
            threads = free.threads(most)
            llama_set_n_threads(model.ctx, threads, threads)
            probability = await run_in_threadpool(refusal_probability, model, prompt, chat)
        return {"probability": probability}

    app.state.last_request = last_request
    return app


def _warm(llm: Any) -> None:
    """Evaluate the fixed start of every evidence prompt once, so it is reused."""
    started = time.perf_counter()
    llm.create_chat_completion(
        messages=[
            {"role": "system", "content": EVIDENCE_SYSTEM_PROMPT},
            {"role": "user", "content": "Evidence:"},
        ],
        max_tokens=1,
        temperature=0.0,
    )
    log.info("answer model warmed in %.1f s", time.perf_counter() - started)


def serve(settings: Settings, idle_exit_minutes: float | None) -> int:
    import uvicorn

    path = settings.generation_socket
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = path.with_suffix(".pid")
    # One service per data folder: it holds a lock on its pid file while it lives, taken
    # before the model loads, so a second one (make run's beside a question's, started
    # at the same moment) ends at once instead of taking the socket from the first.
    holder = pid.open("a+")
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"generation service: one already runs for {path}", flush=True)
        return 0
    holder.truncate(0)
    holder.write(f"{os.getpid()}\n")
    holder.flush()
    free = FreeCores()
    app = build_app(settings, free)
    path.unlink(missing_ok=True)  # left by a service that was killed
    config = uvicorn.Config(app, uds=str(path), log_level="warning", lifespan="off")
    server = StoppableServer(config)

    async def main() -> None:
        server_task = asyncio.create_task(server.serve())
        while not server_task.done():
            await asyncio.sleep(1.0)
            idle = time.monotonic() - app.state.last_request[0]
            if idle_exit_minutes is not None and idle > idle_exit_minutes * 60:
                log.info("no question for %.0f minutes: the generation service ends", idle / 60)
                server.should_exit = True
        await server_task

    print(f"generation service: {settings.llm_path.name} on {path}", flush=True)
    asyncio.run(main())
    path.unlink(missing_ok=True)
    pid.unlink(missing_ok=True)
    holder.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.answers.service",
        description="Serve the answer model to the app, the API and the command line.",
    )
    parser.add_argument(
        "--idle-exit-minutes",
        type=float,
        default=None,
        help="end after this many minutes without a request (default: run until stopped)",
    )
    args = parser.parse_args(argv)
    # Before llama.cpp loads: waiting threads spin briefly, then sleep.
    for name, value in THREAD_WAIT.items():
        os.environ.setdefault(name, value)
    settings = Settings()
    from rag_core.access.phi_logs import configure_logging

    configure_logging(settings)
    try:
        return serve(settings, args.idle_exit_minutes)
    except RagError as exc:
        print(f"error: {exc}", flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
