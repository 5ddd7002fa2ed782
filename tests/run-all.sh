#!/usr/bin/env bash
# Runs every ferry test: Rust unit and integration tests (the bridge over
# real Unix sockets with real Python and JavaScript handlers, the task host
# end to end, the cross-language conformance suite), lints, and the Python
# and JavaScript SDKs' tests. Installs what is missing first.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$FERRY_ROOT"

ensure_rust
# The JavaScript host's engine (deno_core on QuickJS) builds WAMR with CMake;
# SIMDe comes from Debian so that build stays offline (.cargo/config.toml).
ensure_apt_packages cmake libsimde-dev
ensure_python_venv
ensure_moto
command -v node >/dev/null || ensure_apt_packages nodejs

started=$SECONDS
say "building"
cargo build --workspace --bins --locked
say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "rust tests"
cargo test --workspace --locked
say "python sdk tests"
(cd python-sdk && "$FERRY_VENV/bin/python" -m pytest -q)
say "js sdk tests"
(cd js-sdk && node --test)
say "all tests passed in $((SECONDS - started))s"
