#!/usr/bin/env python3
"""Write throughput and put latency of every sink, against local emulators.

Each sink gets the standard workload (../shared/bench/README.md) read by
Python handler T through the bridge, written to a fresh destination on a
moto server (Kinesis, SQS, DynamoDB, S3) or rdkafka's mock Kafka cluster,
both started here on 127.0.0.1 and stopped at the end. For each sink it
prints records/s end to end and ferry's own put figures (calls, p50 and p99
latency per put), read from the run summary, and checks the destination
holds every document.

The emulators are slower than the services (moto answers one request at a
time in Python), so the figures compare sinks and releases on this
machine; they are not what AWS would do.

Run from the repository root, after `tests/run-all.sh` set up .venv:
  .venv/bin/python tests/bench/sinks.py                   # 20,000 lines, every sink
  .venv/bin/python tests/bench/sinks.py --lines 5000 --sinks kinesis,sqs
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the end-to-end benchmark's build and workload helpers)

SINKS = ("file", "kinesis", "sqs", "dynamodb", "s3", "s3-aggregate", "kafka")
REGION = "us-east-1"
SUMMARY_WRITES = re.compile(
    r"\s+writes\s+(\d+) puts, (\d+) documents, (\d+) bytes, (\d+) retries, (\d+) refused; "
    r"p50 ([\d.]+) ms, p99 ([\d.]+) ms per put"
)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Moto:
    """A moto server on 127.0.0.1, stopped by `close`."""

    def __init__(self):
        server = bench.REPO_ROOT / ".venv" / "bin" / "moto_server"
        if not server.is_file():
            raise bench.BenchError(f"{server} is missing: run tests/run-all.sh once, which installs it")
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise bench.BenchError("moto did not start within 60 s")
                time.sleep(0.1)
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service):
        import boto3  # in .venv with moto

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def close(self):
        self.process.terminate()
        self.process.wait()


class MockKafka:
    """rdkafka's mock cluster (tests/src/bin/mock-kafka.rs), stopped by `close`."""

    def __init__(self, binary, topic):
        self.topic = topic
        self.process = subprocess.Popen([str(binary), "3", f"{topic}:3"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.servers = self.process.stdout.readline().strip()
        if not self.servers:
            raise bench.BenchError("mock-kafka printed no bootstrap servers")

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def destination(sink, moto, kafka, name):
    """Creates the sink's destination; returns (writeConnector, count_fn)."""
    if sink == "file":
        return {"connectorDestination": "File", "directory": "output"}, None
    if sink == "kinesis":
        kinesis = moto.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=2)

        def count():
            total = 0
            for shard in kinesis.list_shards(StreamName=name)["Shards"]:
                iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                while iterator:
                    page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
                    total += len(page["Records"])
                    iterator = page.get("NextShardIterator") if page["MillisBehindLatest"] else None
            return total

        return {"connectorDestination": "Kinesis", "streamName": name}, count
    if sink == "sqs":
        sqs = moto.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]

        def count():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

        return {"connectorDestination": "SQS", "queueName": name}, count
    if sink == "dynamodb":
        dynamodb = moto.client("dynamodb")
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "documentId", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "documentId", "AttributeType": "S"}])

        def count():
            return dynamodb.describe_table(TableName=name)["Table"]["ItemCount"]

        return {"connectorDestination": "DynamoDB", "tableName": name}, count
    if sink in ("s3", "s3-aggregate"):
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=name)
        if sink == "s3":
            connector = {"connectorDestination": "S3", "bucketName": name, "writerType": "Single Record Writer"}

            def count():
                pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name)
                return sum(page.get("KeyCount", 0) for page in pages)
        else:
            connector = {"connectorDestination": "S3", "bucketName": name, "writerType": "Aggregate File Writer",
                         "aggregateFileSizeInMB": 10}

            def count():
                total = 0
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                    for entry in page.get("Contents", []):
                        body = s3.get_object(Bucket=name, Key=entry["Key"])["Body"].read()
                        total += body.count(b"\n")
                return total

        return connector, count
    if sink == "kafka":
        return {"connectorDestination": "Kafka", "bootstrapServers": kafka.servers, "topic": kafka.topic}, None
    raise bench.BenchError(f"unknown sink {sink}")


def run_sink(binaries, scratch, data_path, lines, sink, moto, kafka):
    name = f"bench-{sink}-{os.getpid()}"
    run_dir = scratch / "sinks" / sink
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "handler.py").write_text(bench.HANDLER_T)
    connector, count = destination(sink, moto, kafka, name)
    dataset = {
        "datasetName": name,
        "readConnector": {"connectorDestination": "File", "readerType": "Single File Reader",
                          "artifactImplementationLanguage": "Python", "handlerPath": "handler.py",
                          "directory": str(data_path.parent)},
        "manifestFile": {"glob": data_path.name},
        "writeConnector": connector,
        "errorConnector": {"connectorDestination": "Folder", "directory": "errors"},
        "computeEngine": {"computeEngineType": "Local", "concurrency": 1, "batchSize": 500},
    }
    (run_dir / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    env = dict(os.environ, **moto.env)
    started = time.perf_counter()
    result = subprocess.run([str(binaries["ferry"]), "--store", str(run_dir / "store.db"), "run", "dataset.json",
                             "--bridge-bin", str(binaries["bridge"])], cwd=run_dir, env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise bench.BenchError(f"{sink}: ferry exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    figures = {"sink": sink, "wall_s": wall, "rate": lines / wall}
    for line in result.stdout.splitlines():
        if match := SUMMARY_WRITES.match(line):
            puts, documents, size, retries, refused, p50, p99 = match.groups()
            figures.update(puts=int(puts), documents=int(documents), bytes=int(size), retries=int(retries),
                           refused=int(refused), p50_ms=float(p50), p99_ms=float(p99))
    if "puts" not in figures:
        raise bench.BenchError(f"{sink}: no writes line in ferry's summary:\n{result.stdout}")
    if count is not None:
        found = count()
        if found != lines:
            raise bench.BenchError(f"{sink}: the destination holds {found} documents, expected {lines}")
        figures["checked"] = found
    return figures


def build(no_build, debug, kafka):
    """The ferry, bridge and (for Kafka) mock-kafka binaries, built unless
    `no_build`. mock-kafka is always a dev build: its brokers are
    librdkafka's C code, built optimised either way."""
    profile = [] if debug else ["--release"]
    commands = [["cargo", "build", *profile, "-p", "ferry-task-host", "-p", "ferry-bridge"]]
    if kafka:
        commands.append(["cargo", "build", "-p", "ferry-e2e-tests", "--bin", "mock-kafka"])
    for command in [] if no_build else commands:
        bench.log("building: " + " ".join(command))
        if subprocess.run(command, cwd=bench.REPO_ROOT).returncode != 0:
            raise bench.BenchError("cargo build failed (see the messages above)")
    target = Path(os.environ.get("CARGO_TARGET_DIR", bench.REPO_ROOT / "target"))
    directory = target / ("debug" if debug else "release")
    binaries = {"ferry": directory / "ferry", "bridge": directory / "ferry-bridge",
                "mock-kafka": target / "debug" / "mock-kafka"}
    for name, binary in binaries.items():
        if (name != "mock-kafka" or kafka) and not binary.is_file():
            raise bench.BenchError(f"{binary} is missing; build it (drop --no-build)")
    return binaries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000, help="workload lines (default 20000)")
    parser.add_argument("--sinks", default=",".join(SINKS), help=f"comma-separated, of {','.join(SINKS)}")
    parser.add_argument("--scratch", type=Path, default=bench.DEFAULT_SCRATCH)
    parser.add_argument("--workload-generator", type=Path, default=bench.DEFAULT_GENERATOR)
    parser.add_argument("--no-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--debug", action="store_true",
                        help="use the dev build (the CI profile; the release build of the AWS SDK takes minutes)")
    args = parser.parse_args()
    sinks = [sink.strip() for sink in args.sinks.split(",") if sink.strip()]
    unknown = sorted(set(sinks) - set(SINKS))
    if unknown:
        parser.error(f"unknown sinks {unknown}; known: {', '.join(SINKS)}")
    try:
        binaries = build(args.no_build, args.debug, "kafka" in sinks)
        data_path, size = bench.workload(args.workload_generator, args.scratch, args.lines)
        moto = Moto()
        # The mock brokers cannot create topics on request: mock-kafka
        # creates the benchmark's topic as it starts.
        kafka = MockKafka(binaries["mock-kafka"], f"bench-kafka-{os.getpid()}") if "kafka" in sinks else None
        try:
            profile = "dev" if args.debug else "release"
            print(f"{args.lines} lines ({size / 1e6:.1f} MB), handler T (Python), batchSize 500, one task, "
                  f"{profile} build")
            print(f"{'sink':<13} {'wall s':>7} {'records/s':>10} {'puts':>7} {'retries':>7} "
                  f"{'put p50 ms':>10} {'put p99 ms':>10}")
            for sink in sinks:
                figures = run_sink(binaries, args.scratch, data_path, args.lines, sink, moto, kafka)
                print(f"{sink:<13} {figures['wall_s']:>7.2f} {figures['rate']:>10.0f} {figures['puts']:>7} "
                      f"{figures['retries']:>7} {figures['p50_ms']:>10.2f} {figures['p99_ms']:>10.2f}", flush=True)
        finally:
            moto.close()
            if kafka:
                kafka.close()
    except bench.BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
