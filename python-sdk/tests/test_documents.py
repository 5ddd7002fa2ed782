from __future__ import annotations

import json

import pytest

import ferry
from ferry import Document, DocumentType, ErrorDoc, SkipDoc
from ferry.documents import flat_dict, flat_json

ATTRS = ("documentType", "documentId", "recordType", "partitionKey", "documentMetadata", "documentKeyValuesMap")


def test_document_type_enum() -> None:
    assert [m.value for m in DocumentType] == ["Document", "ErrorDoc", "SkipDoc"]
    assert [m.name for m in DocumentType] == ["Document", "ErrorDoc", "SkipDoc"]
    assert DocumentType.Document == "Document"
    assert isinstance(DocumentType.SkipDoc, str)
    assert str(DocumentType.ErrorDoc) == "ErrorDoc"
    assert DocumentType("SkipDoc") is DocumentType.SkipDoc


def test_document_positional_order_and_attributes() -> None:
    md = {"m": 1}
    kv = {"a": 1}
    d = Document(DocumentType.Document, "id1", "Content", "pk1", md, kv)
    assert (d.documentType, d.documentId, d.recordType, d.partitionKey) == (DocumentType.Document, "id1", "Content", "pk1")
    assert d.documentMetadata is md and d.documentKeyValuesMap is kv
    assert d.getDocumentType() is DocumentType.Document
    assert d.getDocumentId() == "id1"
    assert d.getRecordType() == "Content"
    assert d.getPartitionKey() == "pk1"
    assert d.getDocumentMetadata() is md
    assert d.getDocumentKeyValuesMap() is kv


def test_document_defaults() -> None:
    d = Document()
    assert d.documentType is DocumentType.Document
    for name in ATTRS[1:]:
        assert getattr(d, name) is None
    d2 = Document(documentId="x", documentKeyValuesMap={"k": "v"})
    assert d2.documentId == "x" and d2.documentKeyValuesMap == {"k": "v"}


def test_document_uses_slots() -> None:
    d = Document()
    assert not hasattr(d, "__dict__")
    with pytest.raises(AttributeError):
        d.somethingElse = 1  # type: ignore[attr-defined]


def test_error_doc() -> None:
    start, end = {"WET": "10"}, {"WET": "20"}
    e = ErrorDoc("id", "rt", "pk", {"m": 1}, {"k": 1}, start, end, "bad record")
    assert isinstance(e, Document)
    assert e.documentType is DocumentType.ErrorDoc
    assert e.getDocumentType() is DocumentType.ErrorDoc
    assert (e.documentId, e.recordType, e.partitionKey) == ("id", "rt", "pk")
    assert e.documentMetadata == {"m": 1} and e.documentKeyValuesMap == {"k": 1}
    # lowercase "o" in the attribute, capital "O" in the getter
    assert e.errorStartoffsetMap is start and e.errorEndoffsetMap is end
    assert e.getErrorStartOffsetMap() is start and e.getErrorEndOffsetMap() is end
    assert e.errorMessage == "bad record" == e.getErrorMessage()
    assert not hasattr(e, "skipMessage")
    assert not hasattr(e, "__dict__")
    kw = ErrorDoc(errorMessage="m", errorStartoffsetMap={"a": "1"})
    assert kw.documentType is DocumentType.ErrorDoc and kw.documentId is None and kw.errorEndoffsetMap is None


def test_skip_doc() -> None:
    s = SkipDoc("id", "rt", "pk", None, None, {"a": "1"}, {"a": "2"}, "nothing to do")
    assert isinstance(s, Document)
    assert s.documentType is DocumentType.SkipDoc
    assert s.skipMessage == "nothing to do" == s.getSkipMessage()
    assert s.getErrorStartOffsetMap() == {"a": "1"} and s.getErrorEndOffsetMap() == {"a": "2"}
    assert s.errorStartoffsetMap == {"a": "1"} and s.errorEndoffsetMap == {"a": "2"}
    assert not hasattr(s, "errorMessage")


def test_serialize_key_order_and_format() -> None:
    d = Document(
        DocumentType.Document, "u1", "Content", "p1", {"src": "x"},
        {"zeta": 1, "alpha": [1, 2], "text": "héllo \u2603", "nested": {"b": 1, "a": None}},
    )
    s = d.serialize()
    assert s == (
        '{"documentId":"u1","recordType":"Content","partitionKey":"p1","documentMetadata":{"src":"x"},'
        '"zeta":1,"alpha":[1,2],"text":"héllo \u2603","nested":{"b":1,"a":null}}'
    )
    assert s == flat_json(d)
    assert list(json.loads(s)) == ["documentId", "recordType", "partitionKey", "documentMetadata", "zeta", "alpha", "text", "nested"]


def test_serialize_reserved_keys_are_ignored_in_map() -> None:
    d = Document(
        documentId="real", recordType="R", partitionKey="P", documentMetadata=None,
        documentKeyValuesMap={"documentId": "fake", "a": 1, "partitionKey": "fake", "recordType": "f",
                              "documentMetadata": {"x": 1}, "documentType": "kept"},
    )
    out = json.loads(d.serialize())
    assert out == {"documentId": "real", "recordType": "R", "partitionKey": "P", "documentMetadata": {},
                   "a": 1, "documentType": "kept"}
    assert list(out) == ["documentId", "recordType", "partitionKey", "documentMetadata", "a", "documentType"]


def test_serialize_nones() -> None:
    assert Document().serialize() == '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}}'
    e = ErrorDoc(documentId="e", errorMessage="m", documentKeyValuesMap={"raw": "x"})
    assert e.serialize() == '{"documentId":"e","recordType":null,"partitionKey":null,"documentMetadata":{},"raw":"x"}'


def test_flat_json_duck_typed() -> None:
    class Mine:
        def __init__(self) -> None:
            self.documentId = "d"
            self.recordType = "r"
            self.partitionKey = "p"
            self.documentMetadata = {"k": 2}
            self.documentKeyValuesMap = {"v": True}

    assert flat_json(Mine()) == '{"documentId":"d","recordType":"r","partitionKey":"p","documentMetadata":{"k":2},"v":true}'
    assert list(flat_dict(Mine())) == ["documentId", "recordType", "partitionKey", "documentMetadata", "v"]


def test_serialize_rejects_non_json() -> None:
    with pytest.raises(TypeError):
        Document(documentKeyValuesMap={"b": b"bytes"}).serialize()


def test_public_reexports() -> None:
    for name in ["Document", "ErrorDoc", "SkipDoc", "DocumentType", "ParseDocumentResult", "ParseDocumentResultStatus",
                 "RecordParseHint", "RecordHintType", "SingleFileParser", "QueueMessageReader", "KinesisRecordReader",
                 "DynamoDBStreamsRecordReader", "DynamoDBTableItemReader", "SagemakerVectorsInterface",
                 "RetryableError", "HandlerLoadError", "load_handler"]:
        assert hasattr(ferry, name), name
        assert name in ferry.__all__
    assert ferry.__version__ == "0.1.0"
