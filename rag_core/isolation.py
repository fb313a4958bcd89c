"""Extraction in a separate process, under time and memory limits.

A hostile or broken PDF can make a parser loop forever or eat all memory.  Files are
read by `python -m rag_core.isolation` in a child process that imports only the
extraction code, limits its own address space, and hands the pages back as pickles
over a pipe; the parent kills it when the time limit passes.  Whatever happens, the
caller gets an Extracted or a plain reason.

An `IsolatedExtractor` keeps one child for many files (starting one costs about 0.06 s
and the imports, once per file before); a child that timed out, crashed, ran out of
memory or has read `RECYCLE_AFTER` files is replaced by a fresh one.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rag_core.errors import ExtractionFailed, UnsupportedFile
from rag_core.extract import Extracted, OcrOptions, extract

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_HEADER = struct.Struct("!Q")  # the length of each pickle that follows
RECYCLE_AFTER = 200  # files one child reads before a fresh one takes over (leaks)
_PAGE_SLACK = 10.0  # seconds beside a scanned page's recognition: rendering it, and more


@dataclass(frozen=True)
class ExtractionLimits:
    timeout_seconds: float = 60.0
    memory_mb: int = 2048
    max_pages: int = 2000
    max_chars: int = 10_000_000
    # Recognise PDF pages without text (None: off).  Each page recognised gives the
    # reader another `page_seconds` (and CPU time), so a long scan is read to its end
    # while one stuck page is not waited for.
    ocr: OcrOptions | None = None


class IsolatedExtractor:
    """`extract(path)` in a long-lived child process under `limits`.  Thread-safe (one
    file at a time); `close()` ends the child.  A child outlives a parent killed with
    SIGKILL only until it reads its closed pipe, or (stuck in a file) until its CPU
    limit: twice the time limit per file."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self._child: subprocess.Popen[bytes] | None = None
        self._files = 0
        self._lock = threading.Lock()

    def extract(self, path: Path, progress: Callable[[int, int], None] | None = None) -> Extracted:
        """Raises UnsupportedFile or ExtractionFailed, including for a time-out, a
        memory overrun or a crash of the reader.  `progress(done, total)` hears of
        each scanned page before it is recognised."""
        with self._lock:
            limits = self.limits
            deadline = time.monotonic() + limits.timeout_seconds
            child = self._ready_child()
            recognising: tuple[int, int] | None = None
            try:
                request = (
                    str(path),
                    limits.timeout_seconds,
                    limits.max_pages,
                    limits.max_chars,
                    limits.ocr,
                )
                _send(child.stdin, request)
                kind, payload = _receive(child.stdout, deadline)
                while kind == "progress" and limits.ocr is not None:
                    assert isinstance(payload, tuple)
                    recognising = (int(payload[0]), int(payload[1]))
                    done, total = recognising
                    log.info("%s: recognising scanned page %d of %d", path, done + 1, total)
                    if progress is not None:
                        progress(done, total)
                    deadline = time.monotonic() + limits.ocr.page_seconds + _PAGE_SLACK
                    kind, payload = _receive(child.stdout, deadline)
            except TimeoutError:
                self._end_child()
                if recognising is not None:
                    done, total = recognising
                    raise ExtractionFailed(
                        f"timed out recognising scanned page {done + 1} of {total} "
                        f"(over {limits.ocr.page_seconds if limits.ocr else 0:g} s)"
                    ) from None
                raise ExtractionFailed(f"timed out after {limits.timeout_seconds:g} s") from None
            except (EOFError, OSError):
                code = self._end_child()
                log.warning("extraction of %s ended the reader (exit code %s)", path, code)
                raise ExtractionFailed("the file crashed the reader (too much memory?)") from None
            self._files += 1
            if kind == "ok":
                assert isinstance(payload, Extracted)
                return payload
            if kind == "unsupported":
                raise UnsupportedFile(payload)
            raise ExtractionFailed(payload)

    def close(self) -> None:
        with self._lock:
            self._end_child()

    def _ready_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and child.poll() is None and self._files < RECYCLE_AFTER:
            return child
        self._end_child()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "rag_core.isolation", str(self.limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _PACKAGE_ROOT},
        )
        self._files = 0
        return self._child

    def _end_child(self) -> int | None:
        child, self._child = self._child, None
        if child is None:
            return None
        if child.poll() is None:
            child.kill()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
        return child.wait()


def _send(pipe: IO[bytes] | None, message: object) -> None:
    assert pipe is not None
    data = pickle.dumps(message)
    pipe.write(_HEADER.pack(len(data)) + data)
    pipe.flush()


def _receive(pipe: IO[bytes] | None, deadline: float) -> tuple[str, object]:
    """One message from our own child, or TimeoutError at `deadline`, EOFError if the
    child ended."""
    assert pipe is not None
    fd = pipe.fileno()
    header = _read_exactly(fd, _HEADER.size, deadline)
    (length,) = _HEADER.unpack(header)
    kind, payload = pickle.loads(_read_exactly(fd, length, deadline))  # our own child's
    return kind, payload


def _read_exactly(fd: int, count: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    while count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        part = os.read(fd, min(count, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def _child(memory_mb: int) -> None:
    """Read requests from stdin until it closes; answer each on stdout.  Exits after a
    memory overrun (what is left of its heap is not to be trusted)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while header := requests.read(_HEADER.size):
        (length,) = _HEADER.unpack(header)
        path, timeout, max_pages, max_chars, ocr = pickle.loads(requests.read(length))
        # The parent kills a reader past its time; should the parent be gone, the
        # kernel does (SIGXCPU) once this file has had twice that in CPU time.
        _allow_cpu(timeout)

        def progress(done: int, total: int, ocr: OcrOptions | None = ocr) -> None:
            assert ocr is not None
            _allow_cpu(ocr.page_seconds + _PAGE_SLACK)
            _send(answers, ("progress", (done, total)))

        answer: tuple[str, object]
        out_of_memory = False
        try:
            read = extract(Path(path), max_pages, max_chars, ocr=ocr, progress=progress)
            answer = ("ok", read)
        except UnsupportedFile as exc:
            answer = ("unsupported", str(exc))
        except ExtractionFailed as exc:
            answer = ("failed", str(exc))
        except MemoryError:
            answer = ("failed", f"needs more than {memory_mb:,} MB of memory to read")
            out_of_memory = True
        except Exception as exc:
            print(f"reading {path} failed: {exc!r}", file=sys.stderr)
            answer = ("failed", "the reader failed on this file (details in the log)")
        _send(answers, answer)
        if out_of_memory:
            return


def _allow_cpu(seconds: float) -> None:
    """Let this process use `seconds` more CPU time (twice that, from now) and no more."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + 2 * seconds) + 1
    _, most = resource.getrlimit(resource.RLIMIT_CPU)
    if most != resource.RLIM_INFINITY:
        cpu = min(cpu, most)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, most))


if __name__ == "__main__":
    _child(int(sys.argv[1]))
