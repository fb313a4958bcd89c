"""The offline environment every process of the appliance runs with."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag_core import offline
from tests.conftest import REPO


def test_importing_rag_core_turns_telemetry_off_even_against_the_users_shell() -> None:
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0", "HF_HUB_OFFLINE": "0"}
    env.pop("DO_NOT_TRACK", None)
    code = (
        "import os, rag_core\n"
        "print(os.environ['ORT_DISABLE_TELEMETRY'], os.environ['HF_HUB_OFFLINE'],"
        " os.environ['DO_NOT_TRACK'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["1", "1", "1"]


def test_the_watcher_goes_through_rag_core_first() -> None:
    code = "import sys, ingest_watch\nprint('rag_core' in sys.modules)\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"


def test_a_leftover_telemetry_cache_is_found_and_named_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert offline.leftover_telemetry(tmp_path) is None
    cache = tmp_path / offline.ORT_EVENT_CACHE
    cache.mkdir(parents=True)
    (cache / "onnxruntime.db").write_bytes(b"events")
    assert offline.leftover_telemetry(tmp_path) == cache
    monkeypatch.setenv("HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="rag_core.offline"):
        offline.warn_about_leftovers()
    assert f"rm -rf {cache}" in caplog.text
