"""The air-gap guard below Python: every process under strace, in a network namespace
with loopback only.

An audit hook in Python never sees a connect made by a C or C++ library (ONNX Runtime's
telemetry resolves its host from native code), and a loopback-only namespace swallows
such an attempt silently.  strace sees every `connect`, `sendto` and `sendmsg` of every
process and thread, whatever language made it; each is attributed to the program the
process was running (from its `execve`).  Anything to an address that is not loopback
fails the test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CALLS = "connect,sendto,sendmsg,execve,clone,clone3,fork,vfork"
_EXEC = re.compile(r'^(\d+)\s+execve\("([^"]+)"')
# A new process or thread: "12 clone3(...) = 13", or split by strace across two lines.
_SPAWN = re.compile(r"^(\d+)\s+(?:<\.\.\. )?(?:clone3?|v?fork)\b.*=\s+(\d+)")
_INET = re.compile(
    r"^(\d+)\s+(connect|sendto|sendmsg)\(.*?sa_family=(AF_INET6?),\s*sin6?_port=htons\((\d+)\),"
    r'.*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6,\s*"([^"]+)")'
)
# What the appliance may reach: its own machine.
_LOOPBACK = re.compile(r"^(127\.|::1$|::ffff:127\.)")
# Files no component may leave in a fresh HOME: telemetry caches and model-hub caches.
FORBIDDEN_IN_HOME = (
    ".cache/Microsoft",  # ONNX Runtime's telemetry: device id and offline event cache
    ".cache/huggingface",  # a model hub's downloads
    ".cache/torch/hub",
)


# The test's browser stands in for staff's own; one thing of its own network code has no
# switch: Chromium (and chromedriver, built on it) checks for an IPv6 route by
# connecting a UDP socket to this address, which sends no packet.  Allowed for the
# browser alone; anything else it tries fails the test like the appliance's would.
_BROWSER = frozenset({"chromium", "chromedriver", "chrome_crashpad_handler"})
_BROWSER_PROBES = frozenset({("2001:4860:4860::8888", 443)})


@dataclass(frozen=True)
class Attempt:
    pid: int
    program: str  # the executable the process ran
    call: str
    family: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.program} (pid {self.pid}): {self.call} {self.address}:{self.port}"

    @property
    def browser_route_probe(self) -> bool:
        return self.program in _BROWSER and (self.address, self.port) in _BROWSER_PROBES


def strace_usable() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=connect", "-o", "/dev/null", "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def traced(command: list[str], trace: Path) -> list[str]:
    """`command` under strace, following every child and thread, into `trace`."""
    return ["strace", "-f", "-qq", "-e", f"trace={_CALLS}", "-s", "32", "-o", str(trace), *command]


def outbound(trace: Path, *, allow_browser_probe: bool = False) -> list[Attempt]:
    """Every attempt in the trace to reach an address off this machine (but the
    browser's IPv6 route probe, when allowed)."""
    programs: dict[int, str] = {}
    found: list[Attempt] = []
    for line in trace.read_text(errors="replace").splitlines():
        if executed := _EXEC.match(line):
            pid, path = int(executed.group(1)), executed.group(2)
            if path != "/proc/self/exe":  # a program starting itself again keeps its name
                programs[pid] = Path(path).name
            continue
        if spawned := _SPAWN.match(line):
            parent, child = int(spawned.group(1)), int(spawned.group(2))
            programs.setdefault(child, programs.get(parent, "?"))
            continue
        inet = _INET.match(line)
        if inet is None:
            continue
        pid, call, family, port, v4, v6 = inet.groups()
        address = v4 or v6 or ""
        if _LOOPBACK.match(address):
            continue
        attempt = Attempt(int(pid), programs.get(int(pid), "?"), call, family, address, int(port))
        if not (allow_browser_probe and attempt.browser_route_probe):
            found.append(attempt)
    return found


def programs_seen(trace: Path) -> set[str]:
    """The programs strace saw started: proof that it followed them."""
    return {
        Path(found.group(2)).name
        for line in trace.read_text(errors="replace").splitlines()
        if (found := _EXEC.match(line))
    }


def left_in_home(home: Path) -> list[str]:
    return [path for path in FORBIDDEN_IN_HOME if (home / path).exists()]
