"""The app served on a free localhost port, and headless Debian Chromium to look at
it: started the same way by every browser test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import IO

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def start_chromium(*, log_requests: bool = False) -> webdriver.Chrome:
    """A headless window of 1400x1100; `log_requests` keeps Chromium's performance log
    (every request the page makes)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        # Staff's browser is theirs to configure; this one, standing in for it in the
        # tests, is told to keep its own background traffic (updates, safe browsing,
        # metrics, DNS prefetch) to itself, so the air-gap test judges the appliance.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--no-pings",
        "--dns-prefetch-disable",
        "--no-first-run",
        "--disable-client-side-phishing-detection",
        "--disable-features=MediaRouter,OptimizationHints,Translate,NetworkTimeServiceQuerying",
        # No name lookups at all: the app is reached by address.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(
    app: Path,
    port: int,
    *options: str,
    cwd: Path,
    env: dict[str, str],
    log: IO[str],
) -> subprocess.Popen[bytes]:
    """`streamlit run app [options]` on 127.0.0.1:`port`, its output into `log`."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.headless=true",
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            *options,
        ],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def app_is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
