#!/usr/bin/env bash
# Scanned pages are read by Tesseract (Debian's tesseract-ocr, with the English model
# and the orientation model).  Installs it from apt when it is missing (as root, or
# through sudo); more languages: apt-get install tesseract-ocr-deu (etc.) and set
# RAG_OCR_LANGUAGES=eng+deu.  Without it the appliance runs, and scans fail with
# "no extractable text — scanned PDF?" as before: with --optional (make run) a failed
# install is a warning, not the end of the run; the tests need it.
set -euo pipefail
optional=false
[ "${1:-}" = "--optional" ] && optional=true
if command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx osd; then
    exit 0
fi
echo "Installing tesseract-ocr for scanned pages (apt)…"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! { $SUDO apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd >/dev/null; }; then
    if $optional; then
        echo "Warning: tesseract-ocr could not be installed; scanned pages will not be read" \
            "(install it with apt-get install tesseract-ocr tesseract-ocr-osd)." >&2
        exit 0
    fi
    exit 1
fi
command -v tesseract >/dev/null
