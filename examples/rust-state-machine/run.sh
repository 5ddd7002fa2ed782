#!/usr/bin/env bash
# Builds this example's binary (ferry with the stateful parsers of src/
# linked in) and runs both of its datasets over the files in input/: the
# message file through the Single File State Machine Reader (dataset.json),
# then orders joined with their items through the Multiple File State
# Machine Reader (orders-dataset.json). Documents go to output/, failed
# records to errors/, progress to examples/rust-state-machine/.ferry/.
# Running it again resumes (and finds nothing left to do); pass --restart
# to start over.
set -euo pipefail
source "$(dirname "$0")/../../tests/setup.sh"
here="$FERRY_ROOT/examples/rust-state-machine"

ensure_rust
say "building rust-state-machine"
(cd "$FERRY_ROOT" && cargo build -p rust-state-machine --locked -q)
for dataset in dataset.json orders-dataset.json; do
    say "running $dataset"
    "$FERRY_ROOT/target/debug/rust-state-machine" --store "$here/.ferry/ferry.db" run "$here/$dataset" "$@"
done
