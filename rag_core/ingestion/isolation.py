"""Extraction in a separate process, under time and memory limits.

A hostile or broken PDF can make a parser loop forever or eat all memory.  Files are
read by `python -m rag_core.ingestion.isolation` in a child process that imports only the
extraction code, limits its own address space, and hands the pages back as pickles
over a pipe; the parent kills it once it has used its CPU time for the file (read
from /proc: a machine busy with other work slows the clock, not the CPU time a file
takes), or, as a backstop, five times that by the clock (at least 30 s: `limits`).
Whatever happens, the caller gets an Extracted or a plain reason that names the limit
reached.

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

from rag_core.errors import ExtractionFailed, FileRefused, ReadInterrupted, UnsupportedFile
from rag_core.extract import Extracted, OcrOptions, extract
from rag_core.extract.limits import OverCpu, cpu_seconds, wall_allowance

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_HEADER = struct.Struct("!Q")  # the length of each pickle that follows
RECYCLE_AFTER = 200  # files one child reads before a fresh one takes over (leaks)
_PAGE_SLACK = 10.0  # seconds beside a scanned page's recognition: rendering it, and more
_CHECK_SECONDS = 0.1  # how often the reader's CPU time is looked at
# How each kind of failure crosses the pipe.
_FAILURES: dict[str, type[ExtractionFailed]] = {
    "failed": ExtractionFailed,
    "refused": FileRefused,
    "interrupted": ReadInterrupted,
}
_KINDS = {cls: kind for kind, cls in _FAILURES.items()}


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
        """Raises UnsupportedFile or ExtractionFailed (FileRefused for the file's own
        limits, ReadInterrupted when the machine, not the file, stopped it), including
        for a reader past its CPU time, a memory overrun or a crash of the reader.
        `progress(done, total)` hears of each scanned page before it is recognised."""
        with self._lock:
            limits = self.limits
            child = self._ready_child()
            allowed = _Allowance(child.pid, limits.timeout_seconds)
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
                kind, payload = _receive(child.stdout, allowed)
                while kind == "progress" and limits.ocr is not None:
                    assert isinstance(payload, tuple)
                    recognising = (int(payload[0]), int(payload[1]))
                    done, total = recognising
                    log.info("%s: %d of %d scanned pages recognised", path, done, total)
                    if progress is not None:
                        progress(done, total)
                    # Each page may take its own CPU time in each Tesseract at work
                    # (they stop themselves there); this is the backstop.
                    page = 2 * limits.ocr.page_seconds * limits.ocr.workers + _PAGE_SLACK
                    allowed = _Allowance(child.pid, page)
                    kind, payload = _receive(child.stdout, allowed)
            except (OverCpu, TimeoutError) as exc:
                self._end_child()
                raise _stopped(exc, allowed, recognising) from None
            except (EOFError, OSError):
                code = self._end_child()
                log.warning("extraction of %s ended the reader (exit code %s)", path, code)
                raise ReadInterrupted("the file crashed the reader (too much memory?)") from None
            self._files += 1
            if kind == "ok":
                assert isinstance(payload, Extracted)
                return payload
            if kind == "unsupported":
                raise UnsupportedFile(payload)
            assert isinstance(payload, str)
            raise _FAILURES.get(kind, ExtractionFailed)(payload)

    def close(self) -> None:
        with self._lock:
            self._end_child()

    def _ready_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and child.poll() is None and self._files < RECYCLE_AFTER:
            return child
        self._end_child()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "rag_core.ingestion.isolation", str(self.limits.memory_mb)],
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


class _Allowance:
    """What the reader may use before it is stopped: `cpu` more seconds of CPU time
    (its own and its finished children's), and the wall clock `wall_allowance` of that
    as a backstop for a reader that waits without working."""

    def __init__(self, pid: int, cpu: float) -> None:
        self.pid = pid
        self.cpu = cpu
        self.wall = wall_allowance(cpu)
        self.started_cpu = cpu_seconds(pid) or 0.0
        self.started = time.monotonic()

    def used(self) -> float:
        now = cpu_seconds(self.pid)
        return 0.0 if now is None else now - self.started_cpu

    def check(self) -> float:
        """Seconds to wait before the next check; raises OverCpu or TimeoutError."""
        if self.used() > self.cpu:
            raise OverCpu
        left = self.wall - (time.monotonic() - self.started)
        if left <= 0:
            raise TimeoutError
        return min(left, _CHECK_SECONDS)


def _stopped(
    exc: Exception, allowed: _Allowance, recognising: tuple[int, int] | None
) -> ExtractionFailed:
    """The reason a reader was stopped, naming the limit it reached."""
    what = "reading it"
    if recognising is not None:
        done, total = recognising  # the page being read when it stopped
        what = f"recognising scanned page {min(done + 1, total)} of {total}"
    if isinstance(exc, OverCpu):
        return ExtractionFailed(f"{what} used over {allowed.cpu:g} s of CPU time (the limit)")
    return ReadInterrupted(
        f"{what} was not done after {allowed.wall:g} s, with {allowed.used():.0f} s of CPU "
        "time used (the machine was too busy)"
    )


def _receive(pipe: IO[bytes] | None, allowed: _Allowance) -> tuple[str, object]:
    """One message from our own child; OverCpu or TimeoutError past what it is
    `allowed`, EOFError if the child ended."""
    assert pipe is not None
    fd = pipe.fileno()
    header = _read_exactly(fd, _HEADER.size, allowed)
    (length,) = _HEADER.unpack(header)
    kind, payload = pickle.loads(_read_exactly(fd, length, allowed))  # our own child's
    return kind, payload


def _read_exactly(fd: int, count: int, allowed: _Allowance) -> bytes:
    parts: list[bytes] = []
    while count:
        if not select.select([fd], [], [], allowed.check())[0]:
            continue
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
            answer = (_KINDS.get(type(exc), "failed"), str(exc))
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
