"""Several `python -m ingest_watch` processes on one folder and one database, and a
worker killed with SIGKILL in the middle of a file.  Real processes, real database,
real embedding model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag_core.db import Chunk, Database, Document, FileRecord, Job, JobStatus, open_database
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import wait_for

pytestmark = pytest.mark.models  # each process loads the embedding model


class WatcherProcess:
    def __init__(
        self, database_url: str, root: Path, name: str, lease_seconds: float, workers: int = 2
    ) -> None:
        self.log = root / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RAG_DATA_DIR": str(root / "data"),
            "RAG_DROP_DIR": str(root / "drop"),
            "RAG_MODELS_DIR": str(MODELS_DIR),
            "RAG_WATCH_STABLE_SECONDS": "0.5",
            "RAG_WATCH_POLL_SECONDS": "0.1",
            "RAG_JOB_LEASE_SECONDS": str(lease_seconds),
            "RAG_INGEST_WORKERS": str(workers),
            "RAG_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ingest_watch"],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def watching(self) -> bool:
        assert self.process.poll() is None, self.text()
        return "watching" in self.text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    database = open_database(database_url, tmp_path / "data", "unused")
    yield database
    database.dispose()


def count(db: Database, statement: sa.Select[tuple[int]]) -> int:
    with db.session() as session:
        return session.scalar(statement) or 0


def jobs_left(db: Database) -> int:
    return count(
        db,
        sa.select(sa.func.count(Job.id)).where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
        ),
    )


def test_two_workers_ingest_each_of_50_files_once(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    drop, scratch = tmp_path / "drop", tmp_path / "scratch"
    drop.mkdir()
    scratch.mkdir()
    workers = [WatcherProcess(database_url, tmp_path, f"w{i}", 30) for i in range(2)]
    try:
        assert wait_for(lambda: all(w.watching() for w in workers), timeout=180)
        names = [f"memo-{i:02}.txt" for i in range(50)]
        for i, name in enumerate(names):
            (scratch / name).write_text(
                f"Memo {i}. Room {100 + i} is booked for the {i}th staff meeting.\n"
            )
        for name in names:  # all 50 land at once
            (scratch / name).rename(drop / name)

        ready = sa.select(sa.func.count(Document.id)).where(Document.status == "ready")
        assert wait_for(lambda: count(db, ready) == 50, timeout=300)
        assert wait_for(lambda: jobs_left(db) == 0, timeout=60)
    finally:
        for worker in workers:
            worker.stop()
    logs = [worker.text() for worker in workers]
    for name in names:
        ingested = sum(
            1 for log in logs for line in log.splitlines() if "ingested" in line and name in line
        )
        assert ingested == 1, name
    assert count(db, sa.select(sa.func.count(Document.id))) == 50
    assert count(db, sa.select(sa.func.max(Document.version))) == 1
    assert count(db, sa.select(sa.func.count(FileRecord.path))) == 50
    shares = [sum(1 for line in log.splitlines() if " ingested " in line) for log in logs]
    print(f"\nfiles ingested by each worker: {shares}")


def test_worker_killed_mid_file_leaves_one_version_after_restart(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    paragraphs = [
        f"Clause {i}. The supplier shall deliver batch {i} of the order within {i % 30 + 1} "
        f"days and report any defect in batch {i} to the purchasing office in writing."
        for i in range(1500)
    ]
    # One worker process, so the one killed is the one reading the file (a helper
    # would be stopped by the kill too, but gently: it would finish the file first).
    first = WatcherProcess(database_url, tmp_path, "first", lease_seconds=3, workers=1)
    try:
        assert wait_for(first.watching, timeout=180)
        (drop / "supply-contract.txt").write_text("\n\n".join(paragraphs))
        half_done = sa.select(sa.func.count(Job.id)).where(
            Job.status == JobStatus.RUNNING, Job.progress_done > 0
        )
        assert wait_for(lambda: count(db, half_done) == 1, timeout=120, every=0.05)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    # Killed: the document is left "processing", its chunks were never committed.
    assert count(db, sa.select(sa.func.count(Chunk.id))) == 0
    processing = sa.select(sa.func.count(Document.id)).where(Document.status == "processing")
    assert count(db, processing) == 1

    second = WatcherProcess(database_url, tmp_path, "second", lease_seconds=3)
    try:
        ready = sa.select(sa.func.count(Document.id)).where(Document.status == "ready")
        assert wait_for(lambda: count(db, ready) == 1, timeout=300), second.text()
        assert wait_for(lambda: jobs_left(db) == 0, timeout=60)
    finally:
        second.stop()
    assert count(db, sa.select(sa.func.count(Document.id))) == 1
    with db.session() as session:
        document = session.scalars(sa.select(Document)).one()
        assert (document.version, document.is_active) == (1, True)
        chunks = session.scalar(sa.select(sa.func.count(Chunk.id)))
        assert chunks and chunks > 64  # more than one embedding slice: killed mid-file
        orphans = session.scalar(
            sa.select(sa.func.count(Chunk.id)).where(Chunk.document_id != document.id)
        )
        assert orphans == 0
        [document_id] = session.scalars(sa.select(FileRecord.document_id))
        assert document_id == document.id
    assert "taking over" in second.text()


def test_the_watcher_runs_its_helper_workers_and_they_end_with_it(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    watcher = WatcherProcess(database_url, tmp_path, "main", lease_seconds=30)
    try:
        assert wait_for(lambda: "started 1 helper worker(s)" in watcher.text(), timeout=120)
        pids = watcher.text().split("pids [")[1].split("]")[0]
        helper = int(pids)
        assert wait_for(lambda: watcher.text().count("working through the job queue") >= 1, 120)
        os.kill(helper, 0)  # alive
        watcher.process.kill()  # SIGKILL: no chance to stop the helper itself
        watcher.process.wait(timeout=30)

        def gone() -> bool:  # exited (a zombie until its new parent reaps it)
            status = Path(f"/proc/{helper}/status")
            return not status.exists() or "State:\tZ" in status.read_text()

        assert wait_for(gone, timeout=60)
    finally:
        watcher.stop()
