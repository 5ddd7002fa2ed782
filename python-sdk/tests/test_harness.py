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
