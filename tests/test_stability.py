import os
from pathlib import Path

from ingest_watch.stability import StabilityTracker, is_ignored


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_file_is_ready_only_after_it_stopped_changing(tmp_path: Path) -> None:
    clock = Clock()
    tracker = StabilityTracker(stable_seconds=2.0, clock=clock)
    path = tmp_path / "a.pdf"
    path.write_bytes(b"part one")
    tracker.touch(path)
    assert tracker.take_stable() == []  # first look records its size
    clock.now = 1.5
    with path.open("ab") as handle:  # the copy goes on
        handle.write(b" and part two")
    assert tracker.take_stable() == []
    clock.now = 3.0
    assert tracker.take_stable() == []  # changed at 1.5: quiet for only 1.5 s
    clock.now = 3.6
    assert tracker.take_stable() == [path]
    assert tracker.pending() == 0


def test_mtime_change_with_same_size_restarts_the_wait(tmp_path: Path) -> None:
    clock = Clock()
    tracker = StabilityTracker(stable_seconds=1.0, clock=clock)
    path = tmp_path / "a.txt"
    path.write_text("aaaa")
    tracker.touch(path)
    tracker.take_stable()
    clock.now = 0.9
    path.write_text("bbbb")
    os.utime(path, ns=(1, 10**18))
    assert tracker.take_stable() == []
    clock.now = 1.5
    assert tracker.take_stable() == []
    clock.now = 2.0
    assert tracker.take_stable() == [path]


def test_vanished_file_is_forgotten(tmp_path: Path) -> None:
    tracker = StabilityTracker(stable_seconds=0.0)
    path = tmp_path / "gone.pdf"
    path.write_text("x")
    tracker.touch(path)
    path.unlink()
    assert tracker.take_stable() == []
    assert tracker.pending() == 0


def test_temporary_and_hidden_names_are_ignored(tmp_path: Path) -> None:
    for name in ("a.pdf.part", "b.crdownload", "~$contract.docx", ".~lock.x.odt#", ".hidden.pdf"):
        assert is_ignored(tmp_path / name, tmp_path), name
    assert is_ignored(tmp_path / ".git" / "x.pdf", tmp_path)
    assert not is_ignored(tmp_path / "contracts" / "acme.pdf", tmp_path)


def test_reading_a_handed_out_file_does_not_queue_it_again(tmp_path: Path) -> None:
    tracker = StabilityTracker(stable_seconds=0.0)
    path = tmp_path / "a.txt"
    path.write_text("content")
    tracker.touch(path)
    tracker.take_stable()
    assert tracker.take_stable() == [path]
    path.read_text()  # the worker reads it: an access-time event, same size and mtime
    tracker.touch(path)
    assert tracker.pending() == 0
    tracker.touch(path, force=True)  # e.g. its sidecar changed
    assert tracker.pending() == 1
    tracker.take_stable()
    tracker.take_stable()
    path.write_text("new content")
    os.utime(path, ns=(1, 10**18))
    tracker.touch(path)  # a real change
    assert tracker.pending() == 1
