"""Watches the drop folder and ingests each new or changed file once it is stable.

Filesystem events (watchdog) feed a StabilityTracker; a periodic rescan catches what
events miss (network shares, events during start-up).  Each file is one step at the
loop's edge: whatever happens to it is logged and recorded, and the loop goes on.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ingest_watch.stability import StabilityTracker, is_ignored
from rag_core.ingest import Ingestor, IngestResult, Outcome

log = logging.getLogger("ingest_watch")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("created", "modified", "moved", "closed"):
            target = getattr(event, "dest_path", "") or event.src_path
            self.watcher.notice(Path(os.fsdecode(target)))


class Watcher:
    def __init__(
        self,
        ingestor: Ingestor,
        drop_dir: Path,
        *,
        stable_seconds: float,
        poll_seconds: float,
        rescan_seconds: float = 30.0,
    ) -> None:
        self.ingestor = ingestor
        self.drop_dir = drop_dir
        self.poll_seconds = poll_seconds
        self.rescan_seconds = rescan_seconds
        self.tracker = StabilityTracker(stable_seconds)
        self.stop_event = threading.Event()
        # (size, mtime) of each file when it was last handled; the rescan only
        # re-queues files whose signature changed since.
        self._handled: dict[Path, tuple[int, int]] = {}

    def notice(self, path: Path) -> None:
        """A path appeared or changed (a folder: everything under it)."""
        if is_ignored(path, self.drop_dir):
            return
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file() and not is_ignored(child, self.drop_dir):
                    self.tracker.touch(child)
        else:
            self.tracker.touch(path)

    def scan(self) -> int:
        """Queue every file that is new or changed since it was last handled."""
        queued = 0
        for child in self.drop_dir.rglob("*"):
            if not child.is_file() or is_ignored(child, self.drop_dir):
                continue
            stat = child.stat()
            if self._handled.get(child) != (stat.st_size, stat.st_mtime_ns):
                self.tracker.touch(child)
                queued += 1
        return queued

    def process_ready(self) -> list[IngestResult]:
        results = []
        for path in self.tracker.take_stable():
            if self.stop_event.is_set():
                self.tracker.touch(path)  # picked up again at the next start
                break
            results.append(self._process(path))
        return results

    def _process(self, path: Path) -> IngestResult:
        try:
            stat = path.stat()
            result = self.ingestor.ingest_file(path, retry_failed=False)
        except Exception:
            # The loop's edge: a database hiccup or a bug must not kill the watcher.
            log.exception("could not process %s; it will be retried", path)
            self.tracker.touch(path)
            return IngestResult(path, Outcome.FAILED, "could not be processed; will retry")
        self._handled[path] = (stat.st_size, stat.st_mtime_ns)
        level = logging.WARNING if result.outcome == Outcome.FAILED else logging.INFO
        log.log(level, "%s", result.line())
        return result

    def run_once(self) -> list[IngestResult]:
        """Ingest everything in the folder now (no quiet period) and return."""
        self.scan()
        results = []
        for path in self.tracker.take_all():
            results.append(self._process(path))
        return results

    def run(self) -> None:
        """Watch until `stop_event` is set."""
        self.drop_dir.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(self), str(self.drop_dir), recursive=True)
        observer.start()
        log.info("watching %s", self.drop_dir)
        try:
            queued = self.scan()
            if queued:
                log.info("%d files to check in %s", queued, self.drop_dir)
            since_rescan = 0.0
            while not self.stop_event.wait(self.poll_seconds):
                self.process_ready()
                since_rescan += self.poll_seconds
                if since_rescan >= self.rescan_seconds:
                    self.scan()
                    since_rescan = 0.0
        finally:
            observer.stop()
            observer.join(timeout=5)
            log.info("watcher stopped")
