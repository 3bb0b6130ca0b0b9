#!/usr/bin/env bash
# Run every check: ruff, mypy, and the whole pytest suite (real Redis and memcached included).
REQUIREMENTS=requirements-dev.txt source "$(dirname "$0")/scripts/venv.sh"
ensure_services
ensure_browser
ensure_go
export GUESSNET_REQUIRE_SERVICES=1
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
