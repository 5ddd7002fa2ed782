# Shared set-up for ferry's scripts: checks and installs what a fresh
# machine lacks. Source it, then call the ensure_* functions you need.
# Everything it installs goes into the repository (.venv) or comes from the
# system package manager; nothing is needed by hand beforehand except a
# Rust toolchain and Python 3.9+ with a shared libpython.

FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FERRY_ROOT

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing (no-op when all are present).
ensure_apt_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${missing[*]}"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and run again"
}

# The bridge embeds CPython: it needs python3 with a shared libpython,
# which pyo3 finds through the python3 on PATH (or PYO3_PYTHON).
ensure_python() {
    local python=${PYO3_PYTHON:-python3}
    command -v "$python" >/dev/null || ensure_apt_packages python3 python3-dev python3-venv
    "$python" - <<'PY' || die "$python has no shared libpython; install python3-dev, or point PYO3_PYTHON at a Python built with --enable-shared"
import sysconfig, sys
sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)
PY
}

# A virtualenv at .venv with pytest and the ferry Python SDK (editable).
ensure_python_venv() {
    ensure_python
    local venv="$FERRY_ROOT/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv"
        python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
    fi
    if ! "$venv/bin/python" -c 'import pytest, ferry' 2>/dev/null; then
        say "installing pytest and the ferry Python SDK into $venv"
        "$venv/bin/pip" install -q --disable-pip-version-check pytest
        "$venv/bin/pip" install -q --disable-pip-version-check -e "$FERRY_ROOT/python-sdk"
    fi
    FERRY_VENV="$venv"
    export FERRY_VENV
}

# moto's server (the AWS API emulator the cloud tests start on 127.0.0.1),
# in the venv of ensure_python_venv.
ensure_moto() {
    ensure_python_venv
    if [ ! -x "$FERRY_VENV/bin/moto_server" ]; then
        say "installing moto (AWS API emulator) into $FERRY_VENV"
        "$FERRY_VENV/bin/pip" install -q --disable-pip-version-check 'moto[server,dynamodb]>=5.1,<6'
    fi
}
