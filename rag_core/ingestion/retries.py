"""When a file that failed is read again, decided by what the failure says about it.

- **The file's own** (`FileRefused`, `UnsupportedFile`: encrypted, over a limit, a type
  we do not read): not read again until the file changes, or a person presses Retry.
- **Maybe the moment's** (plain `ExtractionFailed`: damaged, empty, no text, past its
  CPU time): a file caught half-written looks damaged, so it is read once more after
  `QUIET_SECONDS`; failing the same way then, it is its own.
- **The machine's** (`ReadInterrupted`: the wall-clock backstop on a busy machine, the
  reader process died, the file could not be opened or vanished while read): tried
  again after each wait in `BACKOFF_SECONDS`, then given up (the reason says after how
  many tries).  A file touched meanwhile (new size or modification time) is tried at
  once.  A disk too full to store the file is tried again every
  `IngestOptions.disk_full_retry_seconds`, for as long as it takes.

A failure that will be tried again is never "unchanged since it failed": the library
shows when the next try is (`next_step`).
"""

from __future__ import annotations

from datetime import datetime

from rag_core.errors import FileRefused, ReadInterrupted, UnsupportedFile

QUIET_SECONDS = 60.0
# Waits before each further try of a transient failure: 6 tries over about 8.6 hours.
BACKOFF_SECONDS = (60.0, 300.0, 1800.0, 7200.0, 21600.0)


def retry_delay(failure: Exception, failures_before: int) -> float | None:
    """Seconds until a file that failed with `failure` is read again, after it had
    failed `failures_before` times in a row; None: not until it changes."""
    if isinstance(failure, FileRefused | UnsupportedFile):
        return None
    if isinstance(failure, ReadInterrupted):
        if failures_before < len(BACKOFF_SECONDS):
            return BACKOFF_SECONDS[failures_before]
        return None
    # Maybe the moment's (`ExtractionFailed`), or a bug: once more, then stop.
    return QUIET_SECONDS if failures_before == 0 else None


def given_up(failure: Exception, failures_before: int) -> bool:
    """Whether this failure ends a run of tries of a transient failure."""
    return isinstance(failure, ReadInterrupted) and failures_before >= len(BACKOFF_SECONDS)


def next_step(error: str | None, retry_at: datetime | None, now: datetime) -> str:
    """What happens next to a file that failed, in a few words for the library's
    lists: "will try again in 2 min", "needs a password"."""
    if retry_at is not None:
        seconds = (retry_at - now).total_seconds()
        return f"will try again {_in(seconds)}"
    reason = (error or "").lower()
    if "password" in reason or "encrypted" in reason:
        return "needs a password: drop a copy without one"
    if "unsupported" in reason or "save it as" in reason or "unpack it" in reason:
        return "not a type the appliance reads"
    if "limit" in reason:
        return "over a limit: split the file, or raise the limit in Settings"
    return "not tried again until the file changes, or on Retry"


def _in(seconds: float) -> str:
    if seconds < 5:
        return "now"
    if seconds < 90:
        return f"in {seconds:.0f} s"
    if seconds < 5400:
        return f"in {seconds / 60:.0f} min"
    return f"in {seconds / 3600:.1f} h"
