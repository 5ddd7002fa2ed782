#!/usr/bin/env bash
# Builds ferry, generates the python-logs sample data (once) and runs it
# through the JavaScript handler in handler.mjs: documents to output/,
# failed records to errors/, progress in examples/js-logs/.ferry/. The
# output matches python-logs byte for byte. Pass --restart to start over.
set -euo pipefail
source "$(dirname "$0")/../../tests/setup.sh"
here="$FERRY_ROOT/examples/js-logs"
data="$FERRY_ROOT/examples/python-logs/data"

ensure_rust
ensure_python
ensure_apt_packages cmake libsimde-dev
say "building ferry and ferry-bridge"
(cd "$FERRY_ROOT" && cargo build --bins --locked -q)
if [ ! -d "$data" ]; then
    say "generating sample logs in $data"
    python3 "$FERRY_ROOT/examples/python-logs/generate.py" "$data"
fi
say "running the dataset"
exec "$FERRY_ROOT/target/debug/ferry" --store "$here/.ferry/ferry.db" run "$here/dataset.json" "$@"
