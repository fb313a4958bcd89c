"""Call a function every few seconds while a block of work runs (lease renewal)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from rag_core.errors import RagError

log = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(renew, every=10):` calls `renew()` every 10 s until the block
    ends (or from `start()` to `stop()`, for work that ends in another thread).  A
    failing beat is logged and retried at the next beat: a short database hiccup must
    not kill the work it guards."""

    def __init__(self, beat: Callable[[], None], every: float) -> None:
        self._beat = beat
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the beats (from any thread; a second call does nothing)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except RagError as exc:  # the database away for a moment: a line, not a trace
                log.warning("heartbeat missed: %s", exc)
            except Exception:
                log.exception("heartbeat failed")
