#!/usr/bin/env bash
# Builds ferry, generates sample JSON logs (once) and runs them through the
# Python handler in handler.py: documents to output/, failed records to
# errors/, progress in examples/python-logs/.ferry/. Running it again
# resumes (and finds nothing left to do); pass --restart to start over.
set -euo pipefail
source "$(dirname "$0")/../../tests/setup.sh"
here="$FERRY_ROOT/examples/python-logs"

ensure_rust
ensure_python
# ferry-bridge also carries the JavaScript engine, whose build needs these.
ensure_apt_packages cmake libsimde-dev
say "building ferry and ferry-bridge"
(cd "$FERRY_ROOT" && cargo build --bins --locked -q)
if [ ! -d "$here/data" ]; then
    say "generating sample logs in $here/data"
    python3 "$here/generate.py" "$here/data"
fi
say "running the dataset"
exec "$FERRY_ROOT/target/debug/ferry" --store "$here/.ferry/ferry.db" run "$here/dataset.json" "$@"
