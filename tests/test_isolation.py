"""The reader's time limit means the file, not the machine: a reader held up by other
work (here: stopped outright) is not failed while it has CPU time left; the wall clock
only stops one that makes no progress at all, and says the machine was too busy."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from rag_core.errors import ExtractionFailed, ReadInterrupted
from rag_core.extract import limits
from rag_core.extract.limits import WALL_FACTOR, OverCpu, cpu_seconds, run_limited, wall_allowance
from rag_core.ingestion.isolation import ExtractionLimits, IsolatedExtractor


def _started(extractor: IsolatedExtractor, sample: Path) -> int:
    """The reader's process id, once it has read a file."""
    assert extractor.extract(sample).pages
    child = extractor._child
    assert child is not None
    return child.pid


def test_a_reader_held_up_longer_than_its_cpu_time_still_reads_the_file(tmp_path: Path) -> None:
    sample = tmp_path / "note.txt"
    sample.write_text("The ledger records transfer 14000.\n" * 50)
    extractor = IsolatedExtractor(ExtractionLimits(timeout_seconds=1.0))
    try:
        pid = _started(extractor, sample)
        # The reader gets no CPU at all for 2.5 s, as on a machine busy with other work:
        # 2.5 times its limit by the clock, none of it by the CPU.
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(2.5, os.kill, (pid, signal.SIGCONT))
        resume.start()
        clock = time.monotonic()
        try:
            extracted = extractor.extract(sample)
        finally:
            resume.join()
        assert time.monotonic() - clock >= 2.5
        assert "transfer 14000" in extracted.pages[0].text
    finally:
        extractor.close()


def test_a_reader_that_makes_no_progress_is_stopped_by_the_clock_and_said_to_be_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "WALL_FLOOR_SECONDS", 0.0)  # the backstop alone, at 5 x 0.4 s
    sample = tmp_path / "note.txt"
    sample.write_text("The ledger records transfer 14000.\n")
    extractor = IsolatedExtractor(ExtractionLimits(timeout_seconds=0.4))
    try:
        pid = _started(extractor, sample)
        os.kill(pid, signal.SIGSTOP)  # never resumed: the backstop ends it
        with pytest.raises(ReadInterrupted) as stopped:
            extractor.extract(sample)
        assert f"not done after {0.4 * WALL_FACTOR:g} s" in str(stopped.value)
        assert "the machine was too busy" in str(stopped.value)
        assert extractor.extract(sample).pages  # a fresh reader took over
    finally:
        extractor.close()


def test_a_program_past_its_cpu_time_is_killed_and_one_within_it_answers() -> None:
    with pytest.raises(OverCpu):
        run_limited(["python3", "-c", "while True: pass"], b"", cpu_limit=0.3)
    done = run_limited(["cat"], b"page text", cpu_limit=5.0)
    assert (done.returncode, done.stdout) == (0, b"page text")


def test_the_clock_waits_at_least_half_a_minute_so_a_small_allowance_does_not_race_it() -> None:
    """At a load of 10 on 2 cores a reader gets a fifth of a core: five times its CPU
    allowance by the clock is just what it needs, so a small allowance needs the floor."""
    assert wall_allowance(0.3) == 30.0
    assert wall_allowance(60.0) == 300.0


def test_cpu_time_is_read_for_a_live_process_only() -> None:
    used = cpu_seconds(os.getpid())
    assert used is not None and used > 0
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def test_the_file_own_failures_and_the_moment_s_cross_the_pipe_as_themselves(
    tmp_path: Path,
) -> None:
    long_text = tmp_path / "long.txt"
    long_text.write_text("word " * 3000)
    extractor = IsolatedExtractor(ExtractionLimits(max_chars=1000))
    try:
        with pytest.raises(ExtractionFailed) as refused:
            extractor.extract(long_text)
        assert type(refused.value).__name__ == "FileRefused"
    finally:
        extractor.close()


def test_a_program_slow_to_read_its_input_gets_all_of_it() -> None:
    """Tesseract reads a page image larger than a pipe holds only once it has started:
    all of it must reach it (a time-out while writing it once left it waiting)."""
    slow_reader = "import sys, time; time.sleep(0.5); print(len(sys.stdin.buffer.read()))"
    done = run_limited(["python3", "-c", slow_reader], b"x" * 1_000_000, cpu_limit=5.0)
    assert done.stdout.strip() == b"1000000"
