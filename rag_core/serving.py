"""uvicorn as the appliance's processes run it (the HTTP API, the generation service)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import uvicorn

_STOP = (signal.SIGINT, signal.SIGTERM)


class StoppableServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT/SIGTERM, then return normally.  uvicorn's own raises the
        signal again once stopped, which skips `atexit`: the embedded PostgreSQL never
        learnt that this process had left, and kept running after `make run` stopped."""
        stop = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP}
        try:
            yield
        finally:
            for sig, previous in stop.items():
                signal.signal(sig, previous)
