"""Air-gap proof: the whole appliance (watcher ingesting a dropped PDF, the app, sign-in,
a question answered with sources, every page in headless Chromium; then the HTTP API
with a token: a search, a question, an OpenAI-style chat, its docs page) runs in a network
namespace with only loopback, with a fresh HOME, under two guards:
- below Python, strace follows every process and thread and records every `connect`,
  `sendto` and `sendmsg` (tests/airgap/native.py): native libraries' attempts too;
- in Python, an audit hook in every process records each attempt with its stack.
None may reach another machine, nothing may leave a telemetry or model-hub cache in
HOME, and the browser may fetch nothing but the app itself: no fonts, no CDN.

The namespace and strace need root (`unshare -n`, ptrace), as on the development
machine and in CI (`make test` installs strace); where either is missing the test
says what it could not check, and the other guards still run.
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
from tests.airgap.native import left_in_home, outbound, programs_seen, strace_usable, traced
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, make_pdf
from tests.office_files import make_html, make_msg

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


def isolated(command: list[str], trace: Path) -> tuple[list[str], list[str]]:
    """`command` in a loopback-only namespace and under strace, as far as this machine
    allows; also what could not be checked, in words."""
    missing = []
    if strace_usable():
        command = traced(command, trace)
    else:
        missing.append("no strace: attempts by native code are not seen")
    if namespace_available():
        # A fresh network namespace: loopback only, brought up; nothing else exists.
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    else:
        missing.append("no network namespace: the flow ran on the ordinary network")
    return command, missing


def test_the_native_guard_sees_a_lookup_from_native_code(tmp_path: Path) -> None:
    """strace sees what the Python guard cannot: a connect made by C code (libc's
    resolver through ctypes stands in for a C++ library's telemetry)."""
    if not strace_usable():
        pytest.fail("strace is missing or not permitted: `make test` installs it")
    trace = tmp_path / "trace.txt"
    egress_log = tmp_path / "egress.jsonl"
    code = (
        "import ctypes, socket, struct\n"
        "libc = ctypes.CDLL(None)\n"
        "fd = libc.socket(socket.AF_INET, socket.SOCK_DGRAM, 0)\n"
        "address = struct.pack('=H', socket.AF_INET) + struct.pack('!H4s8x', 53,"
        " socket.inet_aton('192.0.2.1'))\n"
        "libc.connect(fd, address, len(address))\n"
    )
    command, _ = isolated([sys.executable, "-c", code], trace)
    subprocess.run(command, env=guarded_env(egress_log), check=True, timeout=60)
    assert attempts(egress_log) == []  # the Python guard saw nothing ...
    [attempt] = outbound(trace)  # ... the native one did
    assert (attempt.address, attempt.port, attempt.call) == ("192.0.2.1", 53, "connect")


def test_every_dependency_stays_quiet_when_idle(tmp_path: Path) -> None:
    """Each runtime dependency imported and used, then left idle for 25 s: no attempt to
    reach another machine, no telemetry or hub cache in a fresh HOME."""
    home = tmp_path / "home"
    home.mkdir()
    pdf = tmp_path / "one.pdf"
    make_pdf(pdf, CONTRACT_PAGES[:1])
    trace = tmp_path / "trace.txt"
    script = [sys.executable, str(GUARD / "imports.py"), str(MODELS_DIR), str(pdf), "25"]
    command, missing = isolated(script, trace)
    print("not checked:", missing or "nothing")
    # A user's shell that turned telemetry back on does not turn it on for the appliance.
    env = guarded_env(tmp_path / "egress.jsonl", HOME=str(home), ORT_DISABLE_TELEMETRY="0")
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done" in done.stdout
    if trace.exists():
        assert [str(a) for a in outbound(trace)] == []
    assert attempts(tmp_path / "egress.jsonl") == []
    assert left_in_home(home) == []


def test_the_whole_flow_makes_no_outbound_connection(services: Services, tmp_path: Path) -> None:
    drop = services.settings.drop_dir
    make_pdf(drop / "contracts" / "contract.pdf", CONTRACT_PAGES)
    make_html(drop / "visitors.html")  # links a style sheet, an image and a frame off-site
    # An Outlook message (read by extract-msg) whose attachment becomes a document too.
    order = make_pdf(tmp_path / "order.pdf", ["Twenty insulin pens for ward 4, by Thursday."])
    make_msg(drop / "order.msg", attachment=order.read_bytes())
    services.accounts.add("officer", "data protection pw", Role.ADMIN, by=None)
    egress_log = tmp_path / "egress.jsonl"
    out = tmp_path / "flow.json"
    home = tmp_path / "home"
    home.mkdir()
    env = guarded_env(
        egress_log,
        HOME=str(home),
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
    trace = tmp_path / "trace.txt"
    command, missing = isolated(flow, trace)
    print("not checked:", missing or "nothing")
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr + _logs(tmp_path)
    seen = json.loads(out.read_text())

    assert attempts(egress_log) == []
    if trace.exists():
        assert [str(a) for a in outbound(trace, allow_browser_probe=True)] == []
        assert {"python", "chromium"} <= programs_seen(trace)  # strace followed them all
    assert left_in_home(home) == []
    assert "ninety" in seen["answer"].lower() or "90" in seen["answer"]
    # Written by the generation service, which the question started inside the namespace.
    assert "In short (checked against the sources)" in seen["answer"], seen["answer"]
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
    # The HTTP API, in the same namespace: answers, and a docs page with nothing off-site.
    api = seen["api"]
    assert api["search"]["hits"] and "ninety" in api["ask"]["answer"]
    assert "ninety" in api["chat"]["choices"][0]["message"]["content"]
    assert len(api["docs_requests"]) >= 3  # the page, its script and style sheet, the schema
    assert [
        u for u in api["docs_requests"] if not u.startswith(("http://127.0.0.1:", "data:"))
    ] == []


def _logs(folder: Path) -> str:
    return "".join(
        f"\n--- {log.name}\n{log.read_text()[-4000:]}" for log in sorted(folder.glob("*.log"))
    )
