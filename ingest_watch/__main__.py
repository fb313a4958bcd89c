"""`python -m ingest_watch`: watch the drop folder and ingest what lands in it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from ingest_watch.watcher import Watcher
from rag_core.errors import RagError
from rag_core.services import build_services, configure_logging
from rag_core.settings import Settings

log = logging.getLogger("ingest_watch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest_watch",
        description="Watch the drop folder (RAG_DROP_DIR, default ./drop) and ingest new "
        "or changed files once they have stopped changing; on start, ingest files that "
        "are not in the database yet.",
    )
    parser.add_argument("--drop-dir", type=Path, help="folder to watch (overrides RAG_DROP_DIR)")
    parser.add_argument(
        "--once", action="store_true", help="ingest what is in the folder now, then exit"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings)
    drop_dir = (args.drop_dir or settings.drop_dir).absolute()
    try:
        services = build_services(settings)
    except RagError as exc:
        log.error("%s", exc)
        return 2
    log.info("loading the embedding model")
    services.warm_up(answer_model=False)
    watcher = Watcher(
        services.ingestor,
        drop_dir,
        stable_seconds=settings.watch_stable_seconds,
        poll_seconds=settings.watch_poll_seconds,
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (signal %d)", signum)
        watcher.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if args.once:
            drop_dir.mkdir(parents=True, exist_ok=True)
            results = watcher.run_once()
            return 1 if any(r.outcome == "failed" for r in results) else 0
        watcher.run()
        return 0
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
