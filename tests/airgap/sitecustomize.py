"""Egress guard for the air-gap test: loaded by every Python process started with this
folder on PYTHONPATH and RAG_EGRESS_LOG set.  It records (never blocks) each attempt
to reach beyond this machine: a connect to a non-loopback IP address and a name
lookup of anything but this machine.  Unix sockets (the embedded database) are local.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path

_LOG = os.environ.get("RAG_EGRESS_LOG")
_LOCAL_NAMES = {"localhost", "ip6-localhost", "", None}


def _local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(event: str, target: object) -> None:
    assert _LOG is not None
    line = {"pid": os.getpid(), "argv": sys.argv[:3], "event": event, "target": repr(target)}
    with Path(_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect":
        sock, address = args
        family = getattr(sock, "family", None)
        internet = family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
        if internet and not _local(address[0]):  # type: ignore[index]
            _record(event, address)
    elif event in {"socket.getaddrinfo", "socket.gethostbyname"} and not _local(args[0]):
        _record(event, args[0])


if _LOG:
    sys.addaudithook(_hook)
