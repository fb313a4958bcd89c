#!/usr/bin/env bash
# The browser test drives Debian's headless Chromium through its matching chromedriver;
# the air-gap test traces every process's system calls with strace.  Installs whatever
# of them is missing from apt (as root, or through sudo).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
    && command -v strace >/dev/null; then
    exit 0
fi
echo "Installing chromium, chromium-driver and strace for the browser and air-gap tests (apt)…"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver strace >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v strace >/dev/null
