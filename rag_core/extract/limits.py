"""Time limits that mean the file, not the machine.

A reader is limited by the CPU time it uses: on a machine busy with other work the
same file takes longer by the clock but not by the CPU, so a valid file is not failed
for the machine's load.  The wall clock stays as a backstop (`wall_allowance`): five
times the CPU allowance, and never under 30 s, for a reader that waits on something and
uses no CPU at all.  Without the floor a small allowance would race the clock: at a load
of 10 on 2 cores a process gets about a fifth of a core, so five times its CPU time by
the clock is just what it needs to use it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

WALL_FACTOR = 5.0  # the wall clock stops a reader at this many times its CPU allowance
WALL_FLOOR_SECONDS = 30.0  # ... and never sooner than this
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_POLL_SECONDS = 0.05


def wall_allowance(cpu: float) -> float:
    """Seconds by the clock a reader allowed `cpu` seconds of CPU time is waited for."""
    return max(cpu * WALL_FACTOR, WALL_FLOOR_SECONDS)


class OverCpu(Exception):
    """The process used more CPU time than it was allowed."""


def cpu_seconds(pid: int, children: bool = True) -> float | None:
    """CPU time a live process has used (user and system), with that of its children
    it has waited for; None when it is gone or the system has no /proc."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Fields after the command's name (which may hold spaces): state is the 3rd field,
    # utime the 14th, stime, cutime and cstime the next three.
    fields = data.rsplit(b")", 1)[1].split()
    used = fields[11:15] if children else fields[11:13]
    return sum(int(ticks) for ticks in used) / _TICKS


def run_limited(
    arguments: list[str],
    data: bytes,
    cpu_limit: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a program on `data` (its stdin) and return what it wrote.  Raises OverCpu
    once it has used `cpu_limit` seconds of CPU time, and subprocess.TimeoutExpired
    after `wall_allowance(cpu_limit)` by the clock; either way the program is killed."""
    wall_limit = wall_allowance(cpu_limit)
    # The input goes in as a file: a pipe written by `communicate` would stop being
    # written after its first time-out (it only drains the outputs when called again).
    with tempfile.TemporaryFile() as source:
        source.write(data)
        source.seek(0)
        with subprocess.Popen(
            arguments, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        ) as process:
            started = time.monotonic()
            while True:
                try:
                    out, err = process.communicate(timeout=_POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    used = cpu_seconds(process.pid, children=False)
                    stop: Exception | None = None
                    if used is not None and used > cpu_limit:
                        stop = OverCpu(f"{used:.1f} s")
                    elif time.monotonic() - started > wall_limit:
                        stop = subprocess.TimeoutExpired(arguments, wall_limit)
                    if stop is not None:
                        process.kill()
                        process.communicate()
                        raise stop from None
                    continue
                return subprocess.CompletedProcess(arguments, process.returncode, out, err)
