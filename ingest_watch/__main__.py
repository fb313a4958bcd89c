"""`python -m ingest_watch`: watch the drop folder and ingest what lands in it."""

from __future__ import annotations

import argparse
import ctypes
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ingest_watch.watcher import Watcher, backoff, serve
from ingest_watch.worker import Worker
from rag_core import offline
from rag_core.access.phi_logs import configure_logging
from rag_core.errors import DatabaseUnavailable, RagError
from rag_core.ingestion.heartbeat import Heartbeat
from rag_core.ingestion.liveness import BEAT_SECONDS, Liveness
from rag_core.ingestion.results import Outcome
from rag_core.services import Services, build_services
from rag_core.settings import Settings

log = logging.getLogger("ingest_watch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest_watch",
        description="Watch the drop folder (RAG_DROP_DIR, default ./drop) and keep the "
        "database equal to it: new and changed files are ingested once they have stopped "
        "changing, renamed ones re-pointed, deleted ones retired. On start, everything "
        "that changed while the watcher was down is caught up. Several watchers (on one "
        "machine or several sharing DATABASE_URL) share the work through a job queue.",
    )
    parser.add_argument("--drop-dir", type=Path, help="folder to watch (overrides RAG_DROP_DIR)")
    parser.add_argument(
        "--once",
        action="store_true",
        help="bring the database up to date with the folder, then exit",
    )
    parser.add_argument(
        "--no-watch", action="store_true", help="only work through the job queue (an extra worker)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes in all, this one included (default RAG_INGEST_WORKERS); "
        "the helpers only work through the queue and end with this process",
    )
    args = parser.parse_args(argv)

    settings = Settings()
    if args.drop_dir:
        settings = settings.model_copy(update={"drop_dir": args.drop_dir.absolute()})
    configure_logging(settings)
    if not args.no_watch:  # the watcher says it; its helper workers need not repeat it
        offline.warn_about_leftovers()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    services = connect(settings, stop, keep_trying=not args.once)
    if services is None:
        return 2 if not stop.is_set() else 0
    log.info("loading the embedding model")
    services.warm_up(answer_model=False)
    watcher = Watcher(
        services.queue,
        services.catalog,
        settings.drop_dir,
        stable_seconds=settings.watch_stable_seconds,
        rescan_seconds=settings.watch_rescan_seconds,
    )
    worker = Worker(services.queue, services.ingestor, audit=services.audit)
    helpers = (
        []
        if args.once or args.no_watch
        else start_helpers((args.workers or settings.ingest_workers) - 1, args.drop_dir)
    )
    try:
        if args.once:
            settings.drop_dir.mkdir(parents=True, exist_ok=True)
            watcher.queue_everything_now()
            results = worker.drain()
            return 1 if any(r.outcome == Outcome.FAILED for r in results) else 0
        watches = not args.no_watch
        with alive(services.liveness, worker.name, watches, settings.drop_dir):
            serve(
                watcher if watches else None,
                worker,
                stop,
                settings.watch_poll_seconds,
                services.model_change if watches else None,
            )
        return 0
    finally:
        stop_helpers(helpers)
        services.close()


def connect(settings: Settings, stop: threading.Event, *, keep_trying: bool) -> Services | None:
    """The services, once the database answers.  A service keeps trying (1, 2, 4 … 30 s
    apart, a line each) until it does or `stop` is set; a one-shot run gives up at
    once.  None when it gave up (the reason logged) or was stopped."""
    for wait in backoff():
        try:
            return build_services(settings)
        except DatabaseUnavailable as exc:
            if not keep_trying:
                log.error("%s", exc)
                return None
            log.warning("%s Trying again in %g s.", exc, wait)
        except RagError as exc:  # a setting or a model: waiting will not mend it
            log.error("%s", exc)
            return None
        if stop.wait(wait):
            return None
    raise AssertionError("backoff() never ends")  # pragma: no cover


@contextmanager
def alive(liveness: Liveness, name: str, watches: bool, drop_dir: Path) -> Iterator[None]:
    """Beat for this process while the block runs, so the app can tell whether anyone
    is ingesting; a clean stop takes the process off at once."""
    try:
        liveness.started(name, watches=watches, drop_dir=drop_dir)
    except RagError as exc:  # the beats that follow record it
        log.warning("could not record this process as started: %s", exc)
    with Heartbeat(lambda: liveness.beat(name, watches=watches, drop_dir=drop_dir), BEAT_SECONDS):
        yield
    try:
        liveness.stopped(name)
    except RagError as exc:
        log.warning("could not record this process as stopped: %s", exc)


def start_helpers(count: int, drop_dir: Path | None) -> list[subprocess.Popen[bytes]]:
    """`count` more workers (`--no-watch`), which the kernel ends if this process dies
    without stopping them (even by SIGKILL)."""
    command = [sys.executable, "-m", "ingest_watch", "--no-watch"]
    if drop_dir:
        command += ["--drop-dir", str(drop_dir)]
    helpers = [
        subprocess.Popen(command, preexec_fn=_die_with_parent)  # noqa: PLW1509 - only a prctl
        for _ in range(max(count, 0))
    ]
    if helpers:
        log.info("started %d helper worker(s): pids %s", len(helpers), [h.pid for h in helpers])
    return helpers


def stop_helpers(helpers: list[subprocess.Popen[bytes]]) -> None:
    for helper in helpers:
        helper.terminate()
    for helper in helpers:
        try:
            helper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            helper.kill()


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


if __name__ == "__main__":
    sys.exit(main())
