#!/usr/bin/env bash
# Runs the appliance: the drop-folder watcher in the background and the chat in the
# foreground.  Both attach to the same embedded PostgreSQL (or DATABASE_URL); Ctrl-C
# stops both, and the embedded server stops with the last of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# ONNX Runtime's telemetry cache, left by a version of the appliance that did not turn
# its telemetry off (rag_core/offline.py): say where it is and how to delete it.
ort_cache="$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime"
if [ -e "$ort_cache" ]; then
    echo "Note: ONNX Runtime's telemetry cache from an earlier run is at $ort_cache" >&2
    echo "      (a device id and unsent usage events). Delete it: rm -rf $ort_cache" >&2
fi

# Refuses (exit 2, with the reason) to serve beyond this machine without sign-in;
# prints the address to serve on.
address=$("$PY" -m rag_core exposure)
# On the first start, creates the first administrator and prints its password once.
"$PY" -m rag_core users first-admin

"$PY" -m ingest_watch &
watcher=$!
trap 'kill -TERM "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null || true' EXIT INT TERM

"$PY" -m streamlit run app.py --server.address "$address"
