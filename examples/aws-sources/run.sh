#!/usr/bin/env bash
# Runs the five AWS source datasets (S3, SQS, Kinesis, DynamoDB Streams,
# DynamoDB table) against a local AWS emulator (moto) that it starts on
# 127.0.0.1, fills with sample records (seed.py) and stops at the end.
# Documents go to output/<source>/, failed records to errors/<source>/.
#
# The same dataset files run against real AWS: create the resources, then
# `ferry run s3.json` with your usual AWS credentials and region.
set -euo pipefail
source "$(dirname "$0")/../../tests/setup.sh"
here="$FERRY_ROOT/examples/aws-sources"

ensure_rust
ensure_moto
ensure_apt_packages cmake libsimde-dev
say "building ferry and ferry-bridge"
(cd "$FERRY_ROOT" && cargo build --bins --locked -q)

port=$("$FERRY_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "starting moto on 127.0.0.1:$port"
"$FERRY_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$here/.moto.log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; wait "$moto" 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=example AWS_SECRET_ACCESS_KEY=example
"$FERRY_VENV/bin/python" - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("moto did not start; see .moto.log")
        time.sleep(0.1)
PY

say "creating the bucket, queue, stream and table"
"$FERRY_VENV/bin/python" "$here/seed.py"

# A fresh emulator each time: progress from an earlier run would point at
# records that no longer exist.
rm -rf "$here/.ferry" "$here/output" "$here/errors"
for dataset in s3 sqs kinesis dynamodb-streams dynamodb-table; do
    say "running $dataset.json"
    "$FERRY_ROOT/target/debug/ferry" --store "$here/.ferry/ferry.db" run "$here/$dataset.json"
done
