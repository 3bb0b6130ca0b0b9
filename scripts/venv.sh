# Sourced by run.sh, test.sh and bench.sh: make .venv with the project's requirements, once.
# REQUIREMENTS names the file to install: requirements.txt (the runtime: run.sh) by default,
# requirements-dev.txt (the runtime and the tools) for the tests and the benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
    if [ -z "${APT_UPDATED:-}" ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_services() {
    # redis-server and memcached, for the scale-out tests and the benchmark
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v memcached >/dev/null || missing+=(memcached)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} (used by the scale-out tests and benchmark)..."
        apt_install "${missing[@]}"
    fi
}

ensure_browser() {
    # Debian's chromium and its chromedriver, for the scoreboard's browser test
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} (used by the scoreboard's browser test)..."
        apt_install "${missing[@]}"
    fi
}

ensure_go() {
    # Debian's golang-go builds bench/goload, the benchmark's load generator
    if ! command -v go >/dev/null; then
        echo "installing golang-go (builds the benchmark's load generator)..."
        apt_install golang-go
    fi
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "guessnet needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        apt_install python3-venv
        "$PYTHON" -m venv .venv
    fi
fi
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
# one line per requirements set installed (and its files' hash): nothing is installed twice
want="$REQUIREMENTS $(cat requirements.txt "$REQUIREMENTS" | sha256sum | cut -d' ' -f1)"
if ! grep -qxF "$want" .venv/.requirements.done 2>/dev/null; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$want" >> .venv/.requirements.done
fi
