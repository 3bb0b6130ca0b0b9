#!/usr/bin/env bash
# Run every check: ruff, mypy, and the whole pytest suite (real Redis and memcached included).
source "$(dirname "$0")/scripts/venv.sh"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v memcached >/dev/null || missing+=(memcached)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (used by the scale-out tests)..."
    apt_install "${missing[@]}"
fi
export GUESSNET_REQUIRE_SERVICES=1
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
