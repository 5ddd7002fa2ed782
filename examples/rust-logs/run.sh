#!/usr/bin/env bash
# Builds this example's binary (ferry with the Rust parser of src/main.rs
# linked in), generates the python-logs sample data (once) and runs it
# through the parser: documents to output/, failed records to errors/,
# progress in examples/rust-logs/.ferry/. The output matches python-logs
# byte for byte. Running it again resumes (and finds nothing left to do);
# pass --restart to start over.
set -euo pipefail
source "$(dirname "$0")/../../tests/setup.sh"
here="$FERRY_ROOT/examples/rust-logs"
data="$FERRY_ROOT/examples/python-logs/data"

ensure_rust
say "building rust-logs"
(cd "$FERRY_ROOT" && cargo build -p rust-logs --locked -q)
if [ ! -d "$data" ]; then
    ensure_python
    say "generating sample logs in $data"
    python3 "$FERRY_ROOT/examples/python-logs/generate.py" "$data"
fi
say "running the dataset"
exec "$FERRY_ROOT/target/debug/rust-logs" --store "$here/.ferry/ferry.db" run "$here/dataset.json" "$@"
