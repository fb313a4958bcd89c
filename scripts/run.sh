#!/usr/bin/env bash
# Runs the appliance: the drop-folder watcher, the generation service and the HTTP API
# in the background and
# the chat in the foreground.  All attach to the same embedded PostgreSQL (or
# DATABASE_URL); Ctrl-C stops them all, and the embedded server stops with the last.
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

# The generation service holds the one copy of the answer model that the app, the API
# and the command line share (a Unix socket in the data folder).  The watcher never
# loads it, and runs at a lower priority so that answers keep their cores mid-ingest.
"$PY" -m rag_core.answers.service &
generation=$!
nice -n 10 "$PY" -m ingest_watch &
watcher=$!
# The HTTP API on RAG_API_ADDRESS:RAG_API_PORT (127.0.0.1:8502); tokens: Users page.
"$PY" -m rag_core.api &
api=$!
trap 'kill -TERM "$watcher" "$api" "$generation" 2>/dev/null; wait "$watcher" "$api" "$generation" 2>/dev/null || true' EXIT INT TERM

"$PY" -m streamlit run app.py --server.address "$address"
