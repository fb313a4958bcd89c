"""Extraction in a separate process, under time and memory limits.

A hostile or broken PDF can make a parser loop forever or eat all memory.  Each file is
read by `python -m rag_core.isolation` in a child process that imports only the
extraction code (≈0.2 s to start), limits its own address space, and hands the pages
back as a pickle on stdout; the parent kills it when the time limit passes.  Whatever
happens, the caller gets an Extracted or a plain reason.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.extract import Extracted, extract

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True)
class ExtractionLimits:
    timeout_seconds: float = 60.0
    memory_mb: int = 2048
    max_pages: int = 2000
    max_chars: int = 10_000_000


def extract_isolated(path: Path, limits: ExtractionLimits) -> Extracted:
    """`extract(path)` in a child process.  Raises UnsupportedFile or ExtractionFailed,
    including for a time-out, a memory overrun or a crash of the reader."""
    env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT}
    arguments = [str(path), *(str(v) for v in asdict(limits).values())]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rag_core.isolation", *arguments],
            capture_output=True,
            timeout=limits.timeout_seconds,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExtractionFailed(f"timed out after {limits.timeout_seconds:g} s") from None
    if done.returncode != 0 or not done.stdout:
        log.warning(
            "extraction of %s ended with exit code %s: %s",
            path,
            done.returncode,
            done.stderr.decode(errors="replace")[-2000:],
        )
        raise ExtractionFailed("the file crashed the reader (too much memory?)")
    kind, payload = pickle.loads(done.stdout)  # our own child's output
    if kind == "ok":
        assert isinstance(payload, Extracted)
        return payload
    if kind == "unsupported":
        raise UnsupportedFile(payload)
    raise ExtractionFailed(payload)


def _child(argv: list[str]) -> None:
    path, timeout, memory_mb, max_pages, max_chars = argv
    limits = ExtractionLimits(float(timeout), int(memory_mb), int(max_pages), int(max_chars))
    limit = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answer: tuple[str, object]
    try:
        answer = ("ok", extract(Path(path), max_pages=limits.max_pages, max_chars=limits.max_chars))
    except UnsupportedFile as exc:
        answer = ("unsupported", str(exc))
    except ExtractionFailed as exc:
        answer = ("failed", str(exc))
    except MemoryError:
        answer = ("failed", f"needs more than {limits.memory_mb:,} MB of memory to read")
    except Exception as exc:
        print(f"reading {path} failed: {exc!r}", file=sys.stderr)
        answer = ("failed", "the reader failed on this file (details in the log)")
    sys.stdout.buffer.write(pickle.dumps(answer))


if __name__ == "__main__":
    _child(sys.argv[1:])
