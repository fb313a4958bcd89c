"""Watches the drop folder and queues a job for every file that appears, changes,
moves or disappears.  The worker (ingest_watch.worker) does the work.

Filesystem events (watchdog) feed a StabilityTracker, so a file is queued only once it
has stopped changing.  Reconciliation compares the whole folder with what the database
last saw, on start and periodically, to catch what happened while the watcher was down
and what events miss (network shares).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ingest_watch.stability import StabilityTracker, is_ignored
from ingest_watch.worker import Worker
from rag_core.errors import DatabaseUnavailable, DiskFull, RagError
from rag_core.ingestion.files import walk_files
from rag_core.ingestion.folders import document_of_sidecar, is_sidecar, sidecar_path
from rag_core.ingestion.jobs import JobQueue
from rag_core.library.catalog import Catalog
from rag_core.search.model_change import EmbedderChange

log = logging.getLogger("ingest_watch")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        source = Path(os.fsdecode(event.src_path))
        if event.event_type in ("deleted", "moved"):
            self.watcher.gone(source)
        if event.event_type in ("created", "modified", "closed", "moved"):
            target = getattr(event, "dest_path", "") or event.src_path
            self.watcher.changed(Path(os.fsdecode(target)))


class Watcher:
    def __init__(
        self,
        queue: JobQueue,
        catalog: Catalog,
        drop_dir: Path,
        *,
        stable_seconds: float,
        rescan_seconds: float = 30.0,
    ) -> None:
        self.queue = queue
        self.catalog = catalog
        self.drop_dir = drop_dir.absolute()
        self.rescan_seconds = rescan_seconds
        self.tracker = StabilityTracker(stable_seconds)
        self._last_reconcile = float("-inf")

    # --- what happened ----------------------------------------------------------------

    def changed(self, path: Path) -> None:
        """A path appeared or changed (a folder: everything under it)."""
        if is_ignored(path, self.drop_dir):
            return
        if path.is_dir() and not path.is_symlink():
            for child in walk_files(path):
                self.changed(child)
        elif is_sidecar(path):
            self.tracker.touch(document_of_sidecar(path), force=True)
        else:
            self.tracker.touch(path)

    def gone(self, path: Path) -> None:
        """A path was deleted or moved away: its job retires it (or, for a folder,
        reconciliation finds what was under it)."""
        if is_ignored(path, self.drop_dir):
            return
        if is_sidecar(path):
            self.tracker.touch(document_of_sidecar(path), force=True)
        else:
            self.tracker.forget(path)
            self.queue.enqueue(path)
            self.rescan_soon()  # a folder may have gone

    # --- turning it into jobs -----------------------------------------------------------

    def tick(self) -> None:
        """Queue files that have settled; reconcile when it is time."""
        for path in self.tracker.take_stable():
            self.queue.enqueue(path)
        if time.monotonic() - self._last_reconcile >= self.rescan_seconds:
            self.reconcile()

    def rescan_soon(self) -> None:
        """Compare the whole folder with the database at the next tick."""
        self._last_reconcile = float("-inf")

    def reconcile(self) -> int:
        """Compare the folder with the database; every difference becomes pending work
        (new or changed files wait to settle first).  Returns the number found."""
        self._last_reconcile = time.monotonic()
        known = self.catalog.file_signatures(self.drop_dir)
        differences = 0
        on_disk: set[Path] = set()
        for path in walk_files(self.drop_dir):
            if is_ignored(path, self.drop_dir) or is_sidecar(path):
                continue
            on_disk.add(path)
            seen = known.get(path)
            size: int | None = None
            mtime: int | None = None
            regular = False
            try:
                stat = path.stat()
                size, mtime, regular = stat.st_size, stat.st_mtime_ns, S_ISREG(stat.st_mode)
            except OSError:  # a broken or looping link
                pass
            sidecar = _mtime(sidecar_path(path))
            if (
                seen is None
                or not seen.present
                or (seen.size_bytes, seen.mtime_ns) != (size, mtime)
                or seen.sidecar_mtime_ns != sidecar
            ):
                differences += 1
                if regular:
                    self.tracker.touch(path, force=True)
                else:  # a link to nowhere, a pipe: nothing will settle; its job says why
                    self.queue.enqueue(path)
        for path, seen in known.items():
            if seen.present and path not in on_disk:
                self.queue.enqueue(path)
                differences += 1
        if differences:
            log.info("%d files to check in %s", differences, self.drop_dir)
        return differences

    def queue_everything_now(self) -> None:
        """Reconcile and queue at once, without the quiet period (one-shot runs)."""
        self.reconcile()
        for path in self.tracker.take_all():
            self.queue.enqueue(path)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def backoff(first: float = 1.0, most: float = 30.0) -> Iterator[float]:
    """Waits between tries of something that is down: 1, 2, 4 … s, then `most` s."""
    wait = first
    while True:
        yield wait
        wait = min(wait * 2, most)


class _ModelChange:
    """A change of embedding model, worked on when no file waits (`EmbedderChange`)."""

    def __init__(self, change: EmbedderChange | None) -> None:
        self.change = change

    def step(self) -> bool:
        """One batch; False when there is nothing to do, or it cannot go on (the new
        model is missing or unusable: said once, in the log)."""
        if self.change is None:
            return False
        try:
            return self.change.step()
        except (DatabaseUnavailable, DiskFull):
            raise
        except RagError as exc:
            log.error("embedding the library again with the new model stopped: %s", exc)
            self.change = None
            return False


def serve(
    watcher: Watcher | None,
    worker: Worker,
    stop: threading.Event,
    poll_seconds: float,
    change: EmbedderChange | None = None,
) -> None:
    """The watcher process's loop: watch (unless `watcher` is None) and work until
    `stop` is set.  While the database is away it waits, longer each time, and says
    so in one line a try; files that change meanwhile are caught by the next rescan.
    When no file waits, it embeds the library again with a newly configured embedding
    model, a batch at a time (`change`)."""
    observer = None
    if watcher is not None:
        watcher.drop_dir.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(watcher), str(watcher.drop_dir), recursive=True)
        observer.start()
        log.info("watching %s", watcher.drop_dir)
    else:
        log.info("working through the job queue")
    waits = backoff()
    down_since: float | None = None
    changing = _ModelChange(change)
    try:
        while not stop.is_set():
            idle = True
            try:
                if watcher is not None:
                    watcher.tick()
                idle = worker.run_one() is None and not changing.step()
            except (DatabaseUnavailable, DiskFull) as exc:
                down_since = down_since or time.monotonic()
                if watcher is not None:  # what settled meanwhile was not queued
                    watcher.rescan_soon()
                wait = next(waits)
                problem = (
                    "the database's disk is full"
                    if isinstance(exc, DiskFull)
                    else "the database is not answering"
                )
                log.warning("%s; trying again in %g s", problem, wait)
                stop.wait(wait)
                continue
            except Exception:
                # The loop's edge: a bug.
                log.exception("watcher loop error; retrying in 5 s")
                stop.wait(5)
            if down_since is not None:
                log.warning("the database works again, after %.0f s", time.monotonic() - down_since)
                down_since, waits = None, backoff()
            if idle:
                stop.wait(poll_seconds)
    finally:
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        log.info("watcher stopped")
