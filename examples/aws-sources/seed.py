"""Creates the example's AWS resources and fills them with sample records:
the bucket with python-logs' generated files, the orders queue, the clicks
stream and the orders table (with its stream, which then holds a change
record per write).

Uses the standard AWS configuration of the environment; run.sh points it
at a local moto server. Run it on an empty account (or emulator) only: it
creates resources and fails if they exist.
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import time

import boto3

HERE = pathlib.Path(__file__).resolve().parent
ORDERS = 60
CLICKS = 200


def order(n):
    """Order n; every 20th lacks its id (an error document), every 15th is
    a test order (skipped)."""
    values = {"orderId": f"order-{n:04}", "amount": n * 3 + 0.5, "status": "OPEN"}
    if n % 20 == 7:
        del values["orderId"]
    if n % 15 == 4:
        values["test"] = True
    return values


def seed_bucket():
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ferry-example-logs")
    with tempfile.TemporaryDirectory() as data:
        generate = HERE.parent / "python-logs" / "generate.py"
        subprocess.run([sys.executable, str(generate), data, "--lines-per-file", "2000"], check=True)
        for path in sorted(pathlib.Path(data).iterdir()):
            s3.upload_file(str(path), "ferry-example-logs", path.name)


def seed_queue():
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    for start in range(0, ORDERS, 10):
        entries = [
            {
                "Id": str(n),
                "MessageBody": json.dumps(order(n)),
                "MessageAttributes": {"channel": {"DataType": "String", "StringValue": "web" if n % 2 else "store"}},
            }
            for n in range(start, min(start + 10, ORDERS))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def seed_stream():
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="clicks", ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName="clicks")
    records = []
    for n in range(CLICKS):
        click = {"clickId": f"click-{n:05}", "page": f"/product/{n % 7}"}
        if n % 50 == 9:
            del click["clickId"]
        records.append({"Data": json.dumps(click).encode(), "PartitionKey": f"user-{n % 13}"})
    for start in range(0, CLICKS, 100):
        kinesis.put_records(StreamName="clicks", Records=records[start:start + 100])


def seed_table():
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.get_waiter("table_exists").wait(TableName="orders")
    for n in range(ORDERS):
        values = order(n)
        values.setdefault("orderId", f"order-{n:04}")
        item = {
            "orderId": {"S": values["orderId"]},
            "amount": {"N": str(values["amount"])},
            "status": {"S": values["status"]},
        }
        if values.get("test"):
            item["test"] = {"BOOL": True}
        dynamodb.put_item(TableName="orders", Item=item)
    # Some orders ship and some are cancelled: MODIFY and REMOVE records.
    for n in range(0, ORDERS, 6):
        dynamodb.update_item(
            TableName="orders",
            Key={"orderId": {"S": f"order-{n:04}"}},
            UpdateExpression="SET #s = :shipped",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":shipped": {"S": "SHIPPED"}},
        )
    for n in range(5, ORDERS, 25):
        dynamodb.delete_item(TableName="orders", Key={"orderId": {"S": f"order-{n:04}"}})


if __name__ == "__main__":
    started = time.monotonic()
    seed_bucket()
    seed_queue()
    seed_stream()
    seed_table()
    print(f"seeded the bucket, queue, stream and table in {time.monotonic() - started:.1f}s", file=sys.stderr)
