from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import pytest

Write = Callable[[str, str], Path]

HANDLER = """
    import json
    from ferry import (Document, DocumentType, ErrorDoc, ParseDocumentResult, ParseDocumentResultStatus,
                       RecordParseHint, SingleFileParser, SkipDoc)

    class JsonLinesParser(SingleFileParser):
        def getS3FileType(self):
            return "JSONL"

        def getResolvedS3FileName(self, s3FileType, fileName):
            return "bucket/" + fileName

        def getRecordStartPattern(self, s3FileType):
            return RecordParseHint.of_offset(0)

        def getRecordEndPattern(self, s3FileType):
            return RecordParseHint.of_pattern("\\n")

        def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
            assert isinstance(byteArr, bytearray) and startIndex == 0 and endIndex == len(byteArr)
            text = bytes(byteArr[startIndex:endIndex]).decode("utf-8")
            try:
                obj = json.loads(text)
            except ValueError as exc:
                return ParseDocumentResult(None, ErrorDoc(None, "Line", None, None, {"raw": text},
                                                          {s3FileType: str(offsetBytes)},
                                                          {s3FileType: str(offsetBytes + endIndex)},
                                                          "not json: " + str(exc)),
                                           ParseDocumentResultStatus.ERROR)
            if obj.get("skip"):
                return ParseDocumentResult(None, SkipDoc(skipMessage="skipped on purpose"), ParseDocumentResultStatus.SKIP)
            if obj.get("raise"):
                raise KeyError("boom")
            return ParseDocumentResult(None, Document(DocumentType.Document, obj["id"], "Line", obj["id"], None,
                                                      {"value": obj["v"], "file": s3FileType}),
                                       ParseDocumentResultStatus.SUCCESS)
"""

SAMPLE = b'{"id":"a","v":"\xc3\xa9"}\n{"skip":true}\nnot json\n{"raise":true}\n'


def run(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry.harness", *args], cwd=str(cwd),
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


@pytest.fixture
def project(write: Write, tmp_path: Path) -> Path:
    write("handler.py", HANDLER)
    (tmp_path / "sample.jsonl").write_bytes(SAMPLE)
    return tmp_path


def test_harness_outcomes(project: Path) -> None:
    res = run(["--handler", "handler.py", "--documents", "out.jsonl", "sample.jsonl"], project)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["SUCCESS", "SKIP", "ERROR", "EXCEPTION"]
    starts = [0]
    for raw in SAMPLE.splitlines(keepends=True)[:-1]:
        starts.append(starts[-1] + len(raw))
    assert [line["offset"] for line in lines] == starts == [0, 20, 34, 43]
    assert all(line["file"] == "sample.jsonl" for line in lines)

    ok, skip, err, exc = lines
    assert ok["document"] == {"documentId": "a", "recordType": "Line", "partitionKey": "a", "documentMetadata": {},
                              "value": "é", "file": "JSONL"}
    assert list(ok["document"]) == ["documentId", "recordType", "partitionKey", "documentMetadata", "value", "file"]
    assert ok["message"] is None
    assert skip["message"] == "skipped on purpose"
    assert err["message"].startswith("not json: ")
    assert err["document"]["raw"] == "not json\n"
    assert exc["document"] is None
    assert exc["message"] == "KeyError: 'boom'"
    assert exc["exception"]["type"] == "KeyError"
    assert exc["exception"]["retryable"] is False
    assert "Traceback" in exc["exception"]["traceback"] and "handler.py" in exc["exception"]["traceback"]

    assert res.stderr.strip().splitlines()[-1] == "4 records: 1 documents, 1 errors, 1 skipped, 1 exceptions"
    assert "resolvedS3FileName=bucket/sample.jsonl" in res.stderr
    docs = (project / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert docs == ['{"documentId":"a","recordType":"Line","partitionKey":"a","documentMetadata":{},"value":"é","file":"JSONL"}']


def test_harness_limit_gzip_and_multiple_files(project: Path) -> None:
    with gzip.open(project / "sample.jsonl.gz", "wb") as f:
        f.write(SAMPLE)
    res = run(["--handler", str(project), "sample.jsonl.gz", "sample.jsonl"], project)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(line["file"], line["status"]) for line in lines] == [
        ("sample.jsonl.gz", "SUCCESS"), ("sample.jsonl.gz", "SKIP"), ("sample.jsonl.gz", "ERROR"),
        ("sample.jsonl.gz", "EXCEPTION"), ("sample.jsonl", "SUCCESS"), ("sample.jsonl", "SKIP"),
        ("sample.jsonl", "ERROR"), ("sample.jsonl", "EXCEPTION")]
    assert res.stderr.strip().splitlines()[-1] == "8 records: 2 documents, 2 errors, 2 skipped, 2 exceptions"

    res = run(["--handler", "handler.py", "--limit", "2", "sample.jsonl"], project)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["status"] for line in res.stdout.splitlines()] == ["SUCCESS", "SKIP"]
    assert res.stderr.strip().splitlines()[-1] == "2 records: 1 documents, 0 errors, 1 skipped, 0 exceptions"


def test_harness_handler_load_failure(project: Path, write: Write) -> None:
    write("broken.py", "import ferry\ndef broken(:\n    pass\n")
    res = run(["--handler", "broken.py", "sample.jsonl"], project)
    assert res.returncode == 1
    assert res.stdout == ""
    assert f"cannot import handler {(project / 'broken.py').resolve()}: SyntaxError" in res.stderr

    write("queue_only.py", "import ferry\nclass Q(ferry.QueueMessageReader): pass\n")
    res = run(["--handler", "queue_only.py", "sample.jsonl"], project)
    assert res.returncode == 1
    assert "has no SingleFileParser" in res.stderr


def test_harness_bad_usage(project: Path) -> None:
    assert run(["sample.jsonl"], project).returncode == 2  # --handler missing
    assert run(["--handler", "handler.py"], project).returncode == 2  # no FILE
    assert run(["--handler", "handler.py", "--limit", "0", "sample.jsonl"], project).returncode == 2
    res = run(["--handler", "handler.py", "missing.jsonl"], project)
    assert res.returncode == 2 and "missing.jsonl" in res.stderr


def test_harness_reports_invalid_results(project: Path, write: Write) -> None:
    write(
        "weird.py",
        """
        from ferry import (Document, ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint,
                           RetryableError, SingleFileParser)

        class P(SingleFileParser):
            def getS3FileType(self): return "T"
            def getResolvedS3FileName(self, s3FileType, fileName): raise NotImplementedError("Not Yet Implemented")
            def getRecordStartPattern(self, s3FileType): return RecordParseHint.of_offset(0)
            def getRecordEndPattern(self, s3FileType): return RecordParseHint.of_pattern("\\n")
            def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
                kind = bytes(byteArr).strip().decode()
                if kind == "none":
                    return None
                if kind == "nodoc":
                    return ParseDocumentResult(None, None, ParseDocumentResultStatus.SUCCESS)
                if kind == "bytes":
                    return ParseDocumentResult(None, Document(documentKeyValuesMap={"b": b"x"}), "SUCCESS")
                raise RetryableError("later")
        """,
    )
    (project / "w.txt").write_text("none\nnodoc\nbytes\nretry\n")
    res = run(["--handler", "weird.py", "w.txt"], project)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["EXCEPTION"] * 4
    assert "expected a ParseDocumentResult" in lines[0]["message"]
    assert "without a document" in lines[1]["message"]
    assert "not JSON-serializable" in lines[2]["message"]
    assert lines[3]["exception"]["retryable"] is True and lines[3]["message"] == "RetryableError: later"
    assert "resolvedS3FileName=<NotImplementedError: Not Yet Implemented>" in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "4 records: 0 documents, 0 errors, 0 skipped, 4 exceptions"


def test_harness_letsdata_project(tmp_path: Path, write: Write) -> None:
    # A LetsData project whose stub parser returns the project's own model classes.
    for rel in ["__init__.py", "readers/__init__.py", "readers/parsers/__init__.py", "readers/model/__init__.py"]:
        write("proj/letsdata_interfaces/" + rel, "")
    write(
        "proj/letsdata_interfaces/readers/model/model.py",
        """
        from enum import Enum

        class RecordHintType(Enum):
            OFFSET = "OFFSET"
            PATTERN = "PATTERN"

        class ParseDocumentResultStatus(Enum):
            SUCCESS = "SUCCESS"
            ERROR = "ERROR"
            SKIP = "SKIP"

        class RecordParseHint:
            def __init__(self, recordHintType, pattern, offset):
                self.recordHintType, self.pattern, self.offset = recordHintType, pattern, offset

        class Doc:
            def __init__(self, documentId, text):
                self.documentType = "Document"
                self.documentId, self.recordType, self.partitionKey = documentId, "Rec", documentId
                self.documentMetadata = None
                self.documentKeyValuesMap = {"text": text}

        class ParseDocumentResult:
            def __init__(self, nextRecordType, document, status):
                self.nextRecordType, self.document, self.status = nextRecordType, document, status
        """,
    )
    write(
        "proj/letsdata_interfaces/readers/parsers/singlefileparser.py",
        """
        from letsdata_interfaces.readers.model.model import *

        class SingleFileParser:
            def getS3FileType(self): return "WARC"
            def getResolvedS3FileName(self, s3FileType, fileName): return fileName
            def getRecordStartPattern(self, s3FileType): return RecordParseHint(RecordHintType.PATTERN, "REC ", -1)
            def getRecordEndPattern(self, s3FileType): return RecordParseHint(RecordHintType.PATTERN, ";", -1)
            def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
                text = bytes(byteArr[startIndex:endIndex]).decode()
                return ParseDocumentResult(None, Doc(str(offsetBytes), text), ParseDocumentResultStatus.SUCCESS)
        """,
    )
    (tmp_path / "in.txt").write_bytes(b"garbage REC one; REC two;tail")
    res = run(["--handler", "proj", "in.txt"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["document"] for line in res.stdout.splitlines()] == [
        {"documentId": "8", "recordType": "Rec", "partitionKey": "8", "documentMetadata": {}, "text": "REC one;"},
        {"documentId": "17", "recordType": "Rec", "partitionKey": "17", "documentMetadata": {}, "text": "REC two;"},
    ]


READERS = """
    from ferry import (Document, ErrorDoc, KinesisRecordReader, ParseDocumentResult, ParseDocumentResultStatus,
                       QueueMessageReader, SagemakerVectorsInterface, SkipDoc)

    class Queue(QueueMessageReader):
        def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
            if messageBody == "skip":
                return ParseDocumentResult(None, SkipDoc(skipMessage="empty"), ParseDocumentResultStatus.SKIP)
            if messageBody == "raise":
                raise ValueError("bad body")
            return ParseDocumentResult(None, Document(documentId=messageId, partitionKey=messageGroupId,
                                                      documentKeyValuesMap={"body": messageBody,
                                                                            "attributes": messageAttributes}),
                                       ParseDocumentResultStatus.SUCCESS)

    class Kinesis(KinesisRecordReader):
        def parseMessage(self, streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data):
            assert isinstance(data, bytes) and isinstance(approximateArrivalTimestamp, int)
            return ParseDocumentResult(None, Document(documentId=sequenceNumber,
                                                      documentKeyValuesMap={"bytes": len(data)}), "SUCCESS")

    class Vectors(SagemakerVectorsInterface):
        def extractDocumentElementsForVectorization(self, document):
            if document.get("bad"):
                return {"docText": 1}
            return {"docText": document["docText"]}

        def constructVectorDoc(self, documentInterface, vectorsMap):
            if not vectorsMap:
                return ErrorDoc(documentId=documentInterface["documentId"], errorMessage="no vectors")
            return Document(documentId=documentInterface["documentId"], recordType="Vectors",
                            documentKeyValuesMap={"vectors": vectorsMap})
"""


def test_harness_calls_a_reader_once_per_json_line(tmp_path: Path, write: Write) -> None:
    write("readers.py", READERS)
    (tmp_path / "messages.jsonl").write_text(
        '{"messageId":"m1","messageAttributes":{"a":"1"},"messageBody":"hello"}\n'
        "\n"
        '{"messageId":"m2","messageGroupId":"g","messageDeduplicationId":"d","messageAttributes":{},'
        '"messageBody":"skip"}\n'
        '{"messageId":"m3","messageAttributes":{},"messageBody":"raise"}\n',
        encoding="utf-8",
    )
    res = run(["--handler", "readers.py", "--function", "QueueMessageReader.parseMessage",
               "--documents", "out.jsonl", "messages.jsonl"], tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(line["line"], line["status"], line["message"]) for line in lines] == [
        (1, "SUCCESS", None), (3, "SKIP", "empty"), (4, "EXCEPTION", "ValueError: bad body")]
    assert lines[0]["document"] == {"documentId": "m1", "recordType": None, "partitionKey": None,
                                    "documentMetadata": {}, "body": "hello", "attributes": {"a": "1"}}
    assert (tmp_path / "out.jsonl").read_text().splitlines() == [json.dumps(lines[0]["document"],
                                                                            separators=(",", ":"))]
    assert res.stderr.strip().splitlines()[-1] == "3 records: 1 documents, 0 errors, 1 skipped, 1 exceptions"


def test_harness_passes_kinesis_data_as_bytes(tmp_path: Path, write: Write) -> None:
    write("readers.py", READERS)
    (tmp_path / "records.jsonl").write_text(
        '{"streamArn":"arn","shardId":"s","partitionKey":"p","sequenceNumber":"0042",'
        '"approximateArrivalTimestamp":1701785944187,"data":"Zürich"}\n',
        encoding="utf-8",
    )
    res = run(["--handler", "readers.py", "--function", "KinesisRecordReader.parseMessage", "records.jsonl"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["document"] == {"documentId": "0042", "recordType": None, "partitionKey": None,
                                                  "documentMetadata": {}, "bytes": 7}


def test_harness_runs_the_sagemaker_functions(tmp_path: Path, write: Write) -> None:
    write("readers.py", READERS)
    (tmp_path / "docs.jsonl").write_text('{"document":{"docText":"hi"}}\n{"document":{"bad":true}}\n')
    res = run(["--handler", "readers.py", "--function",
               "SagemakerVectorsInterface.extractDocumentElementsForVectorization", "docs.jsonl"], tmp_path)
    assert res.returncode == 0, res.stderr
    first, second = [json.loads(line) for line in res.stdout.splitlines()]
    assert (first["status"], first["elements"]) == ("SUCCESS", {"docText": "hi"})
    assert second["status"] == "EXCEPTION" and "names and texts must be str" in second["message"]

    (tmp_path / "vectors.jsonl").write_text(
        '{"documentInterface":{"documentId":"d1"},"vectorsMap":{"docText":[0.5,-0.25]}}\n'
        '{"documentInterface":{"documentId":"d2"},"vectorsMap":{}}\n'
    )
    res = run(["--handler", "readers.py", "--function", "SagemakerVectorsInterface.constructVectorDoc",
               "vectors.jsonl"], tmp_path)
    assert res.returncode == 0, res.stderr
    first, second = [json.loads(line) for line in res.stdout.splitlines()]
    assert (first["status"], first["document"]["vectors"]) == ("SUCCESS", {"docText": [0.5, -0.25]})
    assert (second["status"], second["message"]) == ("ERROR", "no vectors")


def test_harness_rejects_input_that_is_not_the_data_of_the_function(tmp_path: Path, write: Write) -> None:
    write("readers.py", READERS)
    (tmp_path / "bad.jsonl").write_text('{"messageId":"m1","messageBody":"x"}\n{"messageBody":"x"}\n')
    res = run(["--handler", "readers.py", "--function", "QueueMessageReader.parseMessage", "bad.jsonl"], tmp_path)
    assert res.returncode == 1
    assert "bad.jsonl:2: the data of QueueMessageReader.parseMessage has no key 'messageId'" in res.stderr
    assert len(res.stdout.splitlines()) == 1  # the first line ran

    (tmp_path / "text.jsonl").write_text("not json\n")
    res = run(["--handler", "readers.py", "--function", "QueueMessageReader.parseMessage", "text.jsonl"], tmp_path)
    assert res.returncode == 1 and "text.jsonl:1: not JSON" in res.stderr

    res = run(["--handler", "readers.py", "--function", "DynamoDBTableItemReader.parseDynamoDBItem", "bad.jsonl"],
              tmp_path)
    assert res.returncode == 1
    assert "has no DynamoDBTableItemReader (it implements: QueueMessageReader, KinesisRecordReader" in res.stderr
    assert run(["--handler", "readers.py", "--function", "Nope.parse", "bad.jsonl"], tmp_path).returncode == 2
