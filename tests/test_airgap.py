"""Air-gap proof: the whole appliance (watcher ingesting a dropped PDF, the app, sign-in,
a question answered with sources, every page in headless Chromium) runs in a network
namespace with only loopback, while every Python process records each attempt to
reach another machine.  None may be made, and the browser may fetch nothing but the
app itself: no fonts, no CDN, no telemetry.

The namespace needs root (`unshare -n`), as on the development machine and in CI;
without it the flow runs in the ordinary network and the guard alone is the proof
(the test says which in its output).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag_core.db.models import Role
from rag_core.services import Services
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, make_pdf

GUARD = Path(__file__).parent / "airgap"
ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS", REPO / "test-artifacts"))
pytestmark = pytest.mark.browser


def guarded_env(egress_log: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{GUARD}{os.pathsep}{REPO}",
        "RAG_EGRESS_LOG": str(egress_log),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def attempts(egress_log: Path) -> list[dict[str, str]]:
    if not egress_log.exists():
        return []
    return [json.loads(line) for line in egress_log.read_text().splitlines() if line]


def namespace_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, check=False
    )
    return probe.returncode == 0


def test_the_guard_records_an_outbound_attempt(tmp_path: Path) -> None:
    """The guard itself works: otherwise an empty record would prove nothing."""
    egress_log = tmp_path / "egress.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\n"
            "s = socket.socket()\n"
            "s.settimeout(0.2)\n"
            "s.connect_ex(('192.0.2.1', 9))\n"  # TEST-NET-1: never routed
            "s2 = socket.socket(); s2.settimeout(0.2); s2.connect_ex(('127.0.0.1', 9))\n",
        ],
        env=guarded_env(egress_log),
        check=True,
        timeout=30,
    )
    [attempt] = attempts(egress_log)
    assert attempt["event"] == "socket.connect" and "192.0.2.1" in attempt["target"]


def test_the_whole_flow_makes_no_outbound_connection(services: Services, tmp_path: Path) -> None:
    drop = services.settings.drop_dir
    make_pdf(drop / "contracts" / "contract.pdf", CONTRACT_PAGES)
    services.accounts.add("officer", "data protection pw", Role.ADMIN, by=None)
    egress_log = tmp_path / "egress.jsonl"
    out = tmp_path / "flow.json"
    env = guarded_env(
        egress_log,
        DATABASE_URL=services.settings.database_url or "",
        RAG_DROP_DIR=str(drop),
        RAG_DATA_DIR=str(tmp_path / "data"),
        RAG_MODELS_DIR=str(MODELS_DIR),
        RAG_LLM_TEMPERATURE="0",
        AIRGAP_PASSWORD="data protection pw",
    )
    flow = [
        sys.executable,
        str(GUARD / "flow.py"),
        f"--out={out}",
        "--user=officer",
        f"--artifacts={ARTIFACTS}",
    ]
    isolated = namespace_available()
    if isolated:
        # A fresh network namespace: loopback only, brought up; nothing else exists.
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *flow]
    else:
        command = flow
    print(f"network namespace with loopback only: {isolated}")
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr + _logs(tmp_path)
    seen = json.loads(out.read_text())

    assert attempts(egress_log) == []
    assert "ninety" in seen["answer"].lower() or "90" in seen["answer"]
    for page, shown in seen["pages"].items():
        assert not shown["exception"], page
    assert seen["pages"]["Audit"]["title"].startswith("Audit")
    assert seen["html_external"] == []
    offsite = [
        url
        for url in seen["requests"]
        if not url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:"))
    ]
    assert offsite == []
    assert len(seen["requests"]) > 10  # the log did capture the page's requests


def _logs(folder: Path) -> str:
    return "".join(
        f"\n--- {log.name}\n{log.read_text()[-4000:]}" for log in sorted(folder.glob("*.log"))
    )
