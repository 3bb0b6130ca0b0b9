#!/usr/bin/env bash
# Run the benchmark suite: results, plots and report.md in bench/results (see docs/PERFORMANCE.md).
# Options go to bench/run.py, e.g. ./scripts/bench.sh --only human --repeat 1
REQUIREMENTS=requirements-dev.txt source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
ensure_services
ensure_go
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec .venv/bin/python -m bench.run "$@"
