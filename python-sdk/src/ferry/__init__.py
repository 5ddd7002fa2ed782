"""ferry Python SDK: handler interfaces, document model, handler loader and local harness.

A handler subclasses one or more of the interface classes (LetsData-compatible
names and signatures) and returns :class:`ParseDocumentResult` objects holding a
:class:`Document`, :class:`ErrorDoc` or :class:`SkipDoc`. Run a handler
over sample input with ``python -m ferry.harness``.
"""

from __future__ import annotations

from .documents import Document, DocumentType, ErrorDoc, SkipDoc, flat_json
from .errors import HandlerLoadError, RetryableError
from .interfaces import (
    INTERFACE_CLASSES,
    INTERFACE_NAMES,
    DynamoDBStreamsRecordReader,
    DynamoDBTableItemReader,
    KinesisRecordReader,
    QueueMessageReader,
    SagemakerVectorsInterface,
    SingleFileParser,
)
from .loader import LoadedHandler, load_handler
from .records import iter_records
from .results import ParseDocumentResult, ParseDocumentResultStatus, RecordHintType, RecordParseHint

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Document",
    "ErrorDoc",
    "SkipDoc",
    "DocumentType",
    "flat_json",
    "ParseDocumentResult",
    "ParseDocumentResultStatus",
    "RecordParseHint",
    "RecordHintType",
    "SingleFileParser",
    "QueueMessageReader",
    "KinesisRecordReader",
    "DynamoDBStreamsRecordReader",
    "DynamoDBTableItemReader",
    "SagemakerVectorsInterface",
    "INTERFACE_NAMES",
    "INTERFACE_CLASSES",
    "RetryableError",
    "HandlerLoadError",
    "LoadedHandler",
    "load_handler",
    "iter_records",
]
