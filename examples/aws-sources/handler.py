"""Handlers for the AWS sources example: one class per LetsData reader
interface, each turning one record of its source into an order or click
document. The S3 dataset reuses examples/python-logs/handler.py.

Every reader answers the same way: a record that carries its id becomes a
document; one that does not becomes an error document naming where it came
from; a record marked as a test is skipped.
"""

import json

from ferry import (
    Document,
    DynamoDBStreamsRecordReader,
    DynamoDBTableItemReader,
    ErrorDoc,
    KinesisRecordReader,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    QueueMessageReader,
    SkipDoc,
)


def _result(record_type, document_id, values, position, partition_key):
    """A document for `values`, a SkipDoc when they are marked as a test,
    or an ErrorDoc when there is no id; `position` names the record."""
    if values.get("test"):
        skip = SkipDoc(documentId=document_id, recordType=record_type,
                       errorStartoffsetMap=position, errorEndoffsetMap=position,
                       skipMessage="test record")
        return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
    if not document_id:
        error = ErrorDoc(recordType=record_type, partitionKey=partition_key,
                         errorStartoffsetMap=position, errorEndoffsetMap=position,
                         errorMessage=f"the {record_type} record has no id")
        return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
    document = Document(documentId=document_id, recordType=record_type, partitionKey=partition_key,
                        documentMetadata=position, documentKeyValuesMap=values)
    return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)


class OrderMessages(QueueMessageReader):
    """SQS: each message body is an order as JSON."""

    def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
        order = json.loads(messageBody)
        order["channel"] = messageAttributes.get("channel")
        return _result("Order", order.get("orderId"), order, {"messageId": messageId}, messageGroupId or messageId)


class ClickRecords(KinesisRecordReader):
    """Kinesis: each record's data is a click as JSON."""

    def parseMessage(self, streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data):
        click = json.loads(data)
        position = {"shardId": shardId, "sequenceNumber": sequenceNumber}
        return _result("Click", click.get("clickId"), click, position, partitionKey)


class OrderChanges(DynamoDBStreamsRecordReader):
    """DynamoDB Streams: each change of the orders table, with the item as
    it is after the change (before it, for a removal)."""

    def parseRecord(self, streamArn, shardId, eventId, eventName, identityPrincipalId, identityType,
                    sequenceNumber, sizeBytes, streamViewType, approximateCreationDateTime, keys, oldImage, newImage):
        values = dict(newImage or oldImage)
        values["change"] = eventName
        position = {"shardId": shardId, "sequenceNumber": sequenceNumber}
        return _result("OrderChange", f"{keys.get('orderId')}@{sequenceNumber}", values, position, shardId)


class OrderItems(DynamoDBTableItemReader):
    """DynamoDB table scan: each item of the orders table."""

    def parseDynamoDBItem(self, tableName, segmentNumber, keys, item):
        position = {"segment": segmentNumber}
        return _result("Order", item.get("orderId"), item, position, tableName)
