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
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

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
    data, drop = root / "data", root / "drop"
    drop.mkdir(parents=True)
    (drop / "boiler.txt").write_text(NOTE)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        RAG_DATA_DIR=str(data),
        RAG_DROP_DIR=str(drop),
        RAG_MODELS_DIR=str(REPO / "models_cache"),
        RAG_AUTH_ENABLED="false",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    env.pop("XDG_RUNTIME_DIR", None)  # found by each process, as under a service manager
    # The app as if started from a desktop session, which has a runtime folder of its own.
    desktop = root / "desktop-runtime"
    desktop.mkdir(mode=0o700)
    app_env = {**env, "XDG_RUNTIME_DIR": str(desktop)}
    port = free_port()
    py = sys.executable
    commands = {
        "watcher": [py, "-m", "ingest_watch"],
        "app": [
            py,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.headless=true",
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--browser.gatherUsageStats=false",
        ],
        "status-1": [py, "-m", "rag_core", "status"],
        "status-2": [py, "-m", "rag_core", "status"],
    }
    logs = {name: (root / f"{name}.log").open("w") for name in commands}
    processes = {
        name: subprocess.Popen(
            command,
            cwd=REPO,
            env=app_env if name == "app" else env,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, command in commands.items()
    }
    problems: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}"
        if not _wait(lambda: _healthy(url), 60):
            problems.append("the app did not serve")
        else:
            problems += _page_problems(url)
        for name in ("status-1", "status-2"):
            try:
                code = processes[name].wait(timeout=120)
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                problems.append(f"{name} exited {code}")
        status = [py, "-m", "rag_core", "status", "--json"]

        def note_ready() -> bool:
            out = subprocess.run(status, cwd=REPO, env=env, capture_output=True, text=True)
            return out.returncode == 0 and json.loads(out.stdout)["documents"]["ready"] == 1

        if not _wait(note_ready, 60, every=2):
            problems.append("the note did not become ready")
        for name in ("watcher", "app"):
            if processes[name].poll() is not None:
                problems.append(f"{name} exited {processes[name].returncode}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for log in logs.values():
            log.close()
    return Trial(number, not problems, round(time.monotonic() - started, 1), problems)


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


def _wait(check: object, seconds: float, every: float = 0.3) -> bool:
    assert callable(check)
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
