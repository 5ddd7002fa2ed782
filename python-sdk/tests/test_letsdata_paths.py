from __future__ import annotations

import importlib

import pytest

import ferry

PATHS = [
    ("letsdata_interfaces.readers.parsers.singlefileparser", "SingleFileParser"),
    ("letsdata_interfaces.readers.sqs.queuemessagereader", "QueueMessageReader"),
    ("letsdata_interfaces.readers.kinesis.kinesisrecordreader", "KinesisRecordReader"),
    ("letsdata_interfaces.readers.dynamodbstreams.dynamodbstreamsrecordreader", "DynamoDBStreamsRecordReader"),
    ("letsdata_interfaces.readers.dynamodb.dynamodbtableitemreader", "DynamoDBTableItemReader"),
    ("letsdata_interfaces.sagemaker.sagemakervectorsinterface", "SagemakerVectorsInterface"),
    ("letsdata_interfaces.documents.document", "Document"),
    ("letsdata_interfaces.documents.errordoc", "ErrorDoc"),
    ("letsdata_interfaces.documents.skipdoc", "SkipDoc"),
    ("letsdata_interfaces.documents.documenttype", "DocumentType"),
    ("letsdata_interfaces.readers.model.parsedocumentresult", "ParseDocumentResult"),
    ("letsdata_interfaces.readers.model.parsedocumentresultstatus", "ParseDocumentResultStatus"),
    ("letsdata_interfaces.readers.model.recordparsehint", "RecordParseHint"),
    ("letsdata_interfaces.readers.model.recordhinttype", "RecordHintType"),
]


@pytest.mark.parametrize("module,name", PATHS)
def test_letsdata_module_reexports_ferry_class(module: str, name: str) -> None:
    mod = importlib.import_module(module)
    assert getattr(mod, name) is getattr(ferry, name)
    assert mod.__all__ == [name]
