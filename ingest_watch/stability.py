"""Which dropped files are ready to read: a file is read only once its size and mtime
have not changed for a while, so a file still being copied is never read half-written.
Temporary names of copy tools and office programs are never read."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from pathlib import Path
from stat import S_ISREG

IGNORED_PATTERNS = ("*.part", "*.crdownload", "*.tmp", "*.download", "~$*", ".~lock*", "*~")


def is_ignored(path: Path, root: Path) -> bool:
    """True for temporary files and anything hidden (dotfiles, dot-folders)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    if any(part.startswith(".") for part in parts):
        return True
    name = path.name
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED_PATTERNS)


class StabilityTracker:
    """Thread-safe: the filesystem observer adds paths, the worker loop takes them."""

    def __init__(self, stable_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stable_seconds = stable_seconds
        self._clock = clock
        self._pending: dict[Path, tuple[tuple[int, int] | None, float]] = {}
        self._handed_out: dict[Path, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def touch(self, path: Path, *, force: bool = False) -> None:
        """Note that a file appeared or changed; its quiet period starts again.  A file
        that looks exactly as when it was last handed out is left alone unless `force`:
        reading a file raises events too (its access time changes)."""
        current = _signature(path)
        with self._lock:
            if not force and current is not None and self._handed_out.get(path) == current:
                return
            self._pending[path] = (None, self._clock())

    def forget(self, path: Path) -> None:
        """The file is gone."""
        with self._lock:
            self._pending.pop(path, None)
            self._handed_out.pop(path, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def take_stable(self) -> list[Path]:
        """Files unchanged for the quiet period, removed from the pending set.  Files
        that vanished are forgotten."""
        now = self._clock()
        ready: list[Path] = []
        with self._lock:
            for path, (signature, since) in list(self._pending.items()):
                current = _signature(path)
                if current is None:
                    del self._pending[path]
                elif current != signature:
                    self._pending[path] = (current, now)
                elif now - since >= self.stable_seconds:
                    del self._pending[path]
                    self._handed_out[path] = current
                    ready.append(path)
        return sorted(ready)

    def take_all(self) -> list[Path]:
        """Every pending file that still exists, without waiting (for one-shot runs)."""
        with self._lock:
            paths = []
            for path in self._pending:
                current = _signature(path)
                if current is not None:
                    self._handed_out[path] = current
                    paths.append(path)
            self._pending.clear()
        return sorted(paths)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    if not S_ISREG(stat.st_mode):
        return None
    return stat.st_size, stat.st_mtime_ns
