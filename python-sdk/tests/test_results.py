from __future__ import annotations

import pytest

import ferry
from ferry import (
    Document,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    RetryableError,
)
from ferry.interfaces import INTERFACE_CLASSES, INTERFACE_NAMES


def test_status_enum() -> None:
    assert [m.value for m in ParseDocumentResultStatus] == ["SUCCESS", "ERROR", "SKIP"]
    for m in ParseDocumentResultStatus:
        assert m.value == m.name and m == m.name and str(m) == m.name


def test_parse_document_result() -> None:
    d = Document(documentId="x")
    r = ParseDocumentResult(None, d, ParseDocumentResultStatus.SUCCESS)
    assert r.nextRecordType is None and r.document is d and r.status is ParseDocumentResultStatus.SUCCESS
    assert r.getNextRecordType() is None and r.getDocument() is d and r.getStatus() == "SUCCESS"
    r2 = ParseDocumentResult(nextRecordType="next", document=None, status=ParseDocumentResultStatus.SKIP)
    assert r2.getNextRecordType() == "next" and r2.getStatus() is ParseDocumentResultStatus.SKIP


def test_hint_type_enum() -> None:
    assert {m.value for m in RecordHintType} == {"OFFSET", "PATTERN"}
    assert RecordHintType.OFFSET == "OFFSET" and RecordHintType.PATTERN == "PATTERN"


def test_record_parse_hint_pattern() -> None:
    h = RecordParseHint(RecordHintType.PATTERN, "WARC/1.0", -1)
    assert (h.recordHintType, h.pattern, h.offset) == (RecordHintType.PATTERN, "WARC/1.0", -1)
    assert h.getRecordHintType() is RecordHintType.PATTERN
    assert h.getPattern() == "WARC/1.0"
    with pytest.raises(AssertionError):
        h.getOffset()
    p = RecordParseHint.of_pattern("\n")
    assert p.recordHintType is RecordHintType.PATTERN and p.getPattern() == "\n"


def test_record_parse_hint_offset() -> None:
    h = RecordParseHint.of_offset(128)
    assert h.recordHintType is RecordHintType.OFFSET and h.pattern is None
    assert h.getOffset() == 128
    with pytest.raises(AssertionError):
        h.getPattern()
    assert RecordParseHint(RecordHintType.OFFSET, None, 0).getOffset() == 0


def test_interfaces_not_implemented() -> None:
    calls = {
        ferry.SingleFileParser: [("getS3FileType", ()), ("getResolvedS3FileName", ("T", "f")),
                                 ("getRecordStartPattern", ("T",)), ("getRecordEndPattern", ("T",)),
                                 ("parseDocument", ("T", "f", 0, bytearray(b"x"), 0, 1))],
        ferry.QueueMessageReader: [("parseMessage", ("id", None, None, {}, "body"))],
        ferry.KinesisRecordReader: [("parseMessage", ("arn", "s", "pk", "1", 1, b"d"))],
        ferry.DynamoDBStreamsRecordReader: [("parseRecord", ("arn", "s", "e", "INSERT", None, None, "1", 1,
                                                               "NEW_IMAGE", 1, {}, {}, {}))],
        ferry.DynamoDBTableItemReader: [("parseDynamoDBItem", ("t", 0, {}, {}))],
        ferry.SagemakerVectorsInterface: [("extractDocumentElementsForVectorization", ({},)),
                                          ("constructVectorDoc", ({}, {}))],
    }
    for cls, methods in calls.items():
        for name, args in methods:
            with pytest.raises(NotImplementedError, match="Not Yet Implemented"):
                getattr(cls(), name)(*args)


def test_interface_parameter_names() -> None:
    import inspect

    def params(cls: type, name: str) -> list:
        return list(inspect.signature(getattr(cls, name)).parameters)[1:]

    assert params(ferry.SingleFileParser, "parseDocument") == [
        "s3FileType", "s3Filename", "offsetBytes", "byteArr", "startIndex", "endIndex"]
    assert params(ferry.SingleFileParser, "getResolvedS3FileName") == ["s3FileType", "fileName"]
    assert params(ferry.QueueMessageReader, "parseMessage") == [
        "messageId", "messageGroupId", "messageDeduplicationId", "messageAttributes", "messageBody"]
    assert params(ferry.KinesisRecordReader, "parseMessage") == [
        "streamArn", "shardId", "partitionKey", "sequenceNumber", "approximateArrivalTimestamp", "data"]
    assert params(ferry.DynamoDBStreamsRecordReader, "parseRecord") == [
        "streamArn", "shardId", "eventId", "eventName", "identityPrincipalId", "identityType", "sequenceNumber",
        "sizeBytes", "streamViewType", "approximateCreationDateTime", "keys", "oldImage", "newImage"]
    assert params(ferry.DynamoDBTableItemReader, "parseDynamoDBItem") == ["tableName", "segmentNumber", "keys", "item"]
    assert params(ferry.SagemakerVectorsInterface, "constructVectorDoc") == ["documentInterface", "vectorsMap"]
    assert params(ferry.SagemakerVectorsInterface, "extractDocumentElementsForVectorization") == ["document"]


def test_interface_names_mapping() -> None:
    assert INTERFACE_NAMES == ("SingleFileParser", "QueueMessageReader", "KinesisRecordReader",
                               "DynamoDBStreamsRecordReader", "DynamoDBTableItemReader", "SagemakerVectorsInterface")
    for name in INTERFACE_NAMES:
        assert INTERFACE_CLASSES[name].__name__ == name
        assert getattr(ferry, name) is INTERFACE_CLASSES[name]


def test_retryable_error() -> None:
    e = RetryableError("later")
    assert getattr(e, "retryable", False) is True
    assert getattr(ValueError("x"), "retryable", False) is False

    class Mine(RetryableError):
        pass

    assert Mine().retryable is True
