#!/usr/bin/env bash
# Scanned pages are read by Tesseract (Debian's tesseract-ocr, with the English model
# and the orientation model).  Installs it from apt when it is missing (as root, or
# through sudo); more languages: apt-get install tesseract-ocr-deu (etc.) and set
# RAG_OCR_LANGUAGES=eng+deu.  Without it the appliance runs, and scans fail with
# "no extractable text — scanned PDF?" as before.
set -euo pipefail
if command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx osd; then
    exit 0
fi
echo "Installing tesseract-ocr for scanned pages (apt)…"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd >/dev/null
command -v tesseract >/dev/null
