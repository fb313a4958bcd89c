"""The soak's short form: random operations on a drop folder against a real watcher,
with a core kept busy and the watcher SIGKILLed twice; the library must then equal the
folder.  The long form (1,000 operations, both cores busy, three kills) is run by hand:
`python scripts/soak.py` (its figures are in the README)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.models
def test_the_library_equals_the_folder_after_random_operations_under_load(
    tmp_path: Path,
) -> None:
    report = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "soak.py"),
            "--ops=200",
            "--kills=2",
            "--load=1",
            "--pace=0.05",
            "--settle=600",
            f"--root={tmp_path / 'soak'}",
            f"--json={report}",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "RAG_MODELS_DIR": str(REPO / "models_cache")},
        check=False,
    )
    assert report.exists(), done.stdout + done.stderr
    figures = json.loads(report.read_text())
    assert figures["kills"] == 2
    assert sum(figures["operations"].values()) == 200
    assert figures["valid_files"] > 10 and figures["seconds_to_settle"] is not None
    assert figures["mismatches"] == [], done.stdout
    assert (figures["valid_failed"], figures["duplicates"], figures["stuck_jobs"]) == (0, 0, 0)
    assert done.returncode == 0, done.stdout
