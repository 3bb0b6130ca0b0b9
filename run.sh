#!/usr/bin/env bash
# Start the guessnet server (embedded backends; certificates made on first run).
# Every option of server.py can follow, e.g. ./run.sh --host 0.0.0.0
source "$(dirname "$0")/scripts/venv.sh"
exec .venv/bin/python server.py "$@"
