"""Start the appliance's processes at the same instant on a fresh data folder, as a
service manager or docker-compose would, and check that every one comes up and works.

    .venv/bin/python scripts/start_together.py --trials 20 [--json OUT]

One trial: a new data folder and drop folder holding one note; then, released together,
the watcher (`python -m ingest_watch`, which starts its helper worker), the app
(`streamlit run app.py`, opened at once in headless Chromium so that it connects, and
started as from a desktop session: XDG_RUNTIME_DIR set, where the others have none), and
two `python -m rag_core status` commands.  The trial passes when both status commands exit
0, the app's page shows the library, the note is ready within a minute, and the watcher
is still running at the end.  Prints one line per trial and the count that passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browsing import free_port, start_chromium  # noqa: E402

NOTE = "The boiler in the east wing is serviced every March by Calder Heating."


@dataclass
class Trial:
    number: int
    passed: bool
    seconds: float
    problems: list[str]


def run_trial(number: int, root: Path) -> Trial:
    """One start of everything together in `root` (which it fills)."""
    started = time.monotonic()
    drop = root / "drop"
    drop.mkdir(parents=True)
    (drop / "boiler.txt").write_text(NOTE)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env.update(
        RAG_DATA_DIR=str(root / "data"),
        RAG_DROP_DIR=str(drop),
        RAG_MODELS_DIR=str(REPO / "models_cache"),
        RAG_AUTH_ENABLED="false",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    port = free_port()
    logs = {name: (root / f"{name}.log").open("w") for name in ("watcher", "app", "s1", "s2")}
    processes = _start_all(root, env, port, logs)
    try:
        problems = _check(processes, env, f"http://127.0.0.1:{port}")
    finally:
        _stop_all(processes.values())
        # The generation service the app started for its first question, if it did.
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((root / "data" / "generation.pid").read_text()), signal.SIGTERM)
        for log in logs.values():
            log.close()
    return Trial(number, not problems, round(time.monotonic() - started, 1), problems)


def _start_all(
    root: Path, env: dict[str, str], port: int, logs: Mapping[str, IO[str]]
) -> dict[str, subprocess.Popen[bytes]]:
    """The watcher, the app and two status commands, as near the same instant as can be.
    Only the app has a runtime folder (XDG_RUNTIME_DIR), as from a desktop session; the
    others find their own, as under a service manager."""
    desktop = root / "desktop-runtime"
    desktop.mkdir(mode=0o700)
    py = sys.executable
    commands = {
        "watcher": [py, "-m", "ingest_watch"],
        "app": [
            *(py, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless=true"),
            *("--server.address=127.0.0.1", f"--server.port={port}"),
            "--browser.gatherUsageStats=false",
        ],
        "s1": [py, "-m", "rag_core", "status"],
        "s2": [py, "-m", "rag_core", "status"],
    }
    return {
        name: subprocess.Popen(
            command,
            cwd=REPO,
            env={**env, "XDG_RUNTIME_DIR": str(desktop)} if name == "app" else env,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, command in commands.items()
    }


def _check(
    processes: dict[str, subprocess.Popen[bytes]], env: dict[str, str], url: str
) -> list[str]:
    problems = []
    if not _wait(lambda: _healthy(url), 60):
        problems.append("the app did not serve")
    else:
        problems += _page_problems(url)
    for name in ("s1", "s2"):
        try:
            code: int | None = processes[name].wait(timeout=120)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            problems.append(f"status command {name} exited {code}")
    status = [sys.executable, "-m", "rag_core", "status", "--json"]

    def note_ready() -> bool:
        out = subprocess.run(status, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        return out.returncode == 0 and json.loads(out.stdout)["documents"]["ready"] == 1

    if not _wait(note_ready, 60, every=2):
        problems.append("the note did not become ready")
    for name in ("watcher", "app"):
        if processes[name].poll() is not None:
            problems.append(f"{name} exited {processes[name].returncode}")
    return problems


def _stop_all(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _page_problems(url: str) -> list[str]:
    browser = start_chromium()
    try:
        browser.get(url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = browser.find_element("tag name", "body").text
            if "Ready" in text and "passages" in text:
                return []
            if "Traceback" in text or "Cannot connect" in text or "could not start" in text:
                return [f"the app showed: {text[:200]!r}"]
            time.sleep(0.5)
        return ["the app's page did not show the library"]
    finally:
        browser.quit()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(check: Callable[[], bool], seconds: float, every: float = 0.3) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the trials here")
    parser.add_argument("--keep", action="store_true", help="keep each trial's folder and logs")
    args = parser.parse_args(argv)
    trials = []
    for number in range(1, args.trials + 1):
        root = Path(tempfile.mkdtemp(prefix=f"together-{number}-"))
        trial = run_trial(number, root)
        trials.append(trial)
        verdict = "ok  " if trial.passed else "FAIL"
        print(f"trial {number:2d}: {verdict} {trial.seconds:5.1f} s  {'; '.join(trial.problems)}")
        if trial.passed and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"          logs in {root}")
    passed = sum(t.passed for t in trials)
    print(f"{passed} of {len(trials)} trials: every process up and working")
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in trials], indent=2))
    return 0 if passed == len(trials) else 1


if __name__ == "__main__":
    sys.exit(main())
