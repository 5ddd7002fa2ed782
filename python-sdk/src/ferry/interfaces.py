"""The handler interfaces (LetsData-compatible names, parameter names and order).

Write a handler by subclassing one (or several) of these classes and overriding
the methods you need; a method you do not override raises
``NotImplementedError("Not Yet Implemented")`` when called.

Contract:

* The handler class is instantiated once, with no arguments, when the handler
  is loaded. Python handlers are *stateless*: the host may call any method on
  any instance in any order, possibly concurrently, so do not keep per-record
  state on ``self``.
* Reader methods return a :class:`~ferry.ParseDocumentResult` whose
  ``document`` is a :class:`~ferry.Document` (status SUCCESS), an
  :class:`~ferry.ErrorDoc` (ERROR) or a :class:`~ferry.SkipDoc` (SKIP).
* Raising :class:`~ferry.RetryableError` (or any exception with a true
  ``retryable`` attribute) reports a retryable failure; any other exception is a
  non-retryable failure of that record.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .results import ParseDocumentResult, RecordParseHint

__all__ = [
    "NOT_YET_IMPLEMENTED",
    "SingleFileParser",
    "QueueMessageReader",
    "KinesisRecordReader",
    "DynamoDBStreamsRecordReader",
    "DynamoDBTableItemReader",
    "SagemakerVectorsInterface",
    "INTERFACE_NAMES",
    "INTERFACE_CLASSES",
]

#: Message of the ``NotImplementedError`` raised by methods that are not overridden.
NOT_YET_IMPLEMENTED = "Not Yet Implemented"


class SingleFileParser:
    """Parses the records of one file (S3 object) of a single file type."""

    def getS3FileType(self) -> str:
        """The file type this parser handles (e.g. ``"WET"``)."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)

    def getResolvedS3FileName(self, s3FileType: str, fileName: str) -> str:
        """Map a manifest file name to the S3 key to read (often the identity)."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)

    def getRecordStartPattern(self, s3FileType: str) -> RecordParseHint:
        """Where a record starts (see :mod:`ferry.records`)."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)

    def getRecordEndPattern(self, s3FileType: str) -> RecordParseHint:
        """Where a record ends (see :mod:`ferry.records`)."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)

    def parseDocument(
        self,
        s3FileType: str,
        s3Filename: str,
        offsetBytes: int,
        byteArr: bytearray,
        startIndex: int,
        endIndex: int,
    ) -> ParseDocumentResult:
        """Parse one record.

        ``byteArr[startIndex:endIndex]`` is the record (Python handlers receive the
        whole record: ``startIndex`` is 0 and ``endIndex`` is ``len(byteArr)``);
        ``offsetBytes`` is the byte offset of the record in the (decompressed) file.
        """
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


class QueueMessageReader:
    """Turns one SQS message into a document."""

    def parseMessage(
        self,
        messageId: str,
        messageGroupId: Optional[str],
        messageDeduplicationId: Optional[str],
        messageAttributes: Dict[str, Any],
        messageBody: str,
    ) -> ParseDocumentResult:
        """``messageGroupId`` / ``messageDeduplicationId`` are ``None`` for standard queues."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


class KinesisRecordReader:
    """Turns one Kinesis record into a document."""

    def parseMessage(
        self,
        streamArn: str,
        shardId: str,
        partitionKey: str,
        sequenceNumber: str,
        approximateArrivalTimestamp: int,
        data: bytes,
    ) -> ParseDocumentResult:
        """``approximateArrivalTimestamp`` is epoch milliseconds; ``data`` is the record bytes."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


class DynamoDBStreamsRecordReader:
    """Turns one DynamoDB Streams record into a document."""

    def parseRecord(
        self,
        streamArn: str,
        shardId: str,
        eventId: str,
        eventName: str,
        identityPrincipalId: Optional[str],
        identityType: Optional[str],
        sequenceNumber: str,
        sizeBytes: int,
        streamViewType: str,
        approximateCreationDateTime: int,
        keys: Dict[str, Any],
        oldImage: Dict[str, Any],
        newImage: Dict[str, Any],
    ) -> ParseDocumentResult:
        """``eventName`` is INSERT|MODIFY|REMOVE; ``approximateCreationDateTime`` is
        epoch seconds; ``keys``/``oldImage``/``newImage`` are plain JSON dicts
        (``{}`` when absent)."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


class DynamoDBTableItemReader:
    """Turns one item of a DynamoDB table scan into a document."""

    def parseDynamoDBItem(
        self,
        tableName: str,
        segmentNumber: int,
        keys: Dict[str, Any],
        item: Dict[str, Any],
    ) -> ParseDocumentResult:
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


class SagemakerVectorsInterface:
    """Selects the text to embed and builds the document from the vectors."""

    def extractDocumentElementsForVectorization(self, document: Dict[str, Any]) -> Dict[str, str]:
        """``document`` is the flat document map; return ``{friendlyName: text}``."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)

    def constructVectorDoc(self, documentInterface: Dict[str, Any], vectorsMap: Dict[str, List[float]]) -> Any:
        """Return a :class:`~ferry.Document` built from the flat document map and
        ``{friendlyName: vector}``."""
        raise NotImplementedError(NOT_YET_IMPLEMENTED)


#: The wire names of the six interfaces, in a fixed order.
INTERFACE_NAMES: Tuple[str, ...] = (
    "SingleFileParser",
    "QueueMessageReader",
    "KinesisRecordReader",
    "DynamoDBStreamsRecordReader",
    "DynamoDBTableItemReader",
    "SagemakerVectorsInterface",
)

#: Wire interface name -> ferry base class.
INTERFACE_CLASSES: Mapping[str, type] = MappingProxyType(
    {
        "SingleFileParser": SingleFileParser,
        "QueueMessageReader": QueueMessageReader,
        "KinesisRecordReader": KinesisRecordReader,
        "DynamoDBStreamsRecordReader": DynamoDBStreamsRecordReader,
        "DynamoDBTableItemReader": DynamoDBTableItemReader,
        "SagemakerVectorsInterface": SagemakerVectorsInterface,
    }
)
