from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Callable

import pytest

import ferry
from ferry import HandlerLoadError, load_handler

Write = Callable[[str, str], Path]

PARSER = """
    from ferry import (Document, DocumentType, ParseDocumentResult, ParseDocumentResultStatus,
                       RecordParseHint, SingleFileParser)

    class JsonLines(SingleFileParser):
        def getS3FileType(self):
            return "JSONL"

        def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
            return ParseDocumentResult(None, Document(DocumentType.Document, str(offsetBytes)),
                                       ParseDocumentResultStatus.SUCCESS)
"""


def test_load_py_file(write: Write, tmp_path: Path) -> None:
    f = write("h/my_handler.py", PARSER)
    loaded = load_handler(f)
    assert loaded.path == f.resolve()
    assert loaded.kind == "file"
    assert list(loaded.interfaces) == ["SingleFileParser"]
    parser = loaded.interfaces["SingleFileParser"]
    assert type(parser).__name__ == "JsonLines"
    assert isinstance(parser, ferry.SingleFileParser)
    assert type(parser).__module__ == "ferry_user_handler"
    assert sys.modules["ferry_user_handler"].__file__ == str(f.resolve())
    assert parser.getS3FileType() == "JSONL"
    assert parser.parseDocument("JSONL", "x", 7, bytearray(b"{}"), 0, 2).document.documentId == "7"
    assert loaded.files == [f.resolve()]
    expected = hashlib.sha256(b"my_handler.py\0" + f.read_bytes() + b"\0").hexdigest()
    assert loaded.digest == expected
    assert sys.path[0] == str(f.parent.resolve())


def test_load_directory_with_handler_py(write: Write, tmp_path: Path) -> None:
    write("proj/helper.py", "PREFIX = 'id-'\n")
    write(
        "proj/handler.py",
        """
        from helper import PREFIX
        from ferry import QueueMessageReader, ParseDocumentResult, ParseDocumentResultStatus, Document

        class Reader(QueueMessageReader):
            def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
                return ParseDocumentResult(None, Document(documentId=PREFIX + messageId), ParseDocumentResultStatus.SUCCESS)
        """,
    )
    loaded = load_handler(tmp_path / "proj")
    reader = loaded.interfaces["QueueMessageReader"]
    assert reader.parseMessage("m1", None, None, {}, "{}").document.documentId == "id-m1"
    assert loaded.files == [(tmp_path / "proj" / "handler.py").resolve()]
    assert loaded.get("queuemessagereader") is reader


def test_class_implementing_two_interfaces_is_instantiated_once(write: Write) -> None:
    f = write(
        "two.py",
        """
        import ferry

        CREATED = []

        class Both(ferry.KinesisRecordReader, ferry.QueueMessageReader):
            def __init__(self):
                CREATED.append(self)
        """,
    )
    loaded = load_handler(f)
    assert set(loaded.interfaces) == {"KinesisRecordReader", "QueueMessageReader"}
    assert loaded.interfaces["KinesisRecordReader"] is loaded.interfaces["QueueMessageReader"]
    assert len(sys.modules["ferry_user_handler"].CREATED) == 1
    assert list(loaded.interfaces) == ["QueueMessageReader", "KinesisRecordReader"]  # INTERFACE_NAMES order


def test_several_classes_for_different_interfaces(write: Write) -> None:
    f = write(
        "multi.py",
        """
        from ferry import SingleFileParser, DynamoDBTableItemReader, SagemakerVectorsInterface as S

        class P(SingleFileParser): pass
        class D(DynamoDBTableItemReader): pass
        class V(S): pass
        """,
    )
    loaded = load_handler(f)
    assert {k: type(v).__name__ for k, v in loaded.interfaces.items()} == {
        "SingleFileParser": "P", "DynamoDBTableItemReader": "D", "SagemakerVectorsInterface": "V"}


def test_two_classes_for_one_interface_is_an_error(write: Write) -> None:
    f = write(
        "dup.py",
        """
        from ferry import SingleFileParser

        class FirstParser(SingleFileParser): pass
        class SecondParser(SingleFileParser): pass
        """,
    )
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    msg = str(info.value)
    assert "FirstParser" in msg and "SecondParser" in msg and "SingleFileParser" in msg
    assert str(f.resolve()) in msg


def test_intermediate_base_class_is_not_a_duplicate(write: Write) -> None:
    f = write(
        "layered.py",
        """
        from ferry import SingleFileParser

        class Base(SingleFileParser):
            def getS3FileType(self): return "BASE"

        class Concrete(Base):
            def getS3FileType(self): return "CONCRETE"
        """,
    )
    assert load_handler(f).interfaces["SingleFileParser"].getS3FileType() == "CONCRETE"


def test_no_handler_class(write: Write) -> None:
    f = write("empty.py", "from ferry import SingleFileParser\nX = 1\n")
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    msg = str(info.value)
    assert msg.startswith(f"{f.resolve()} defines no handler class: subclass one of ferry.SingleFileParser, ")
    assert "ferry.SagemakerVectorsInterface" in msg
    assert "ferry_user_handler" not in sys.modules


def test_syntax_error_names_file_and_line(write: Write) -> None:
    f = write("handler.py", "import ferry\n\ndef broken(:\n    pass\n")
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    err = info.value
    assert str(err).startswith(f"cannot import handler {f.resolve()}: SyntaxError: ")
    assert "(handler.py, line 3)" in str(err)
    assert isinstance(err.__cause__, SyntaxError)
    assert err.details and "SyntaxError" in err.details
    assert "ferry_user_handler" not in sys.modules


def test_module_level_raise(write: Write) -> None:
    f = write("boom.py", "import ferry\n\nraise RuntimeError('config missing')\n")
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    err = info.value
    assert str(err).startswith(f"cannot import handler {f.resolve()}: RuntimeError: config missing")
    assert f"{f.resolve()}:3" in str(err)
    assert isinstance(err.__cause__, RuntimeError)
    assert "config missing" in err.details and "Traceback" in err.details


def test_import_error(write: Write) -> None:
    f = write("imp.py", "import definitely_not_a_module_xyz\n")
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    assert "ModuleNotFoundError" in str(info.value) and "definitely_not_a_module_xyz" in str(info.value)
    assert str(f.resolve()) in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_constructor_failure(write: Write) -> None:
    f = write(
        "ctor.py",
        """
        from ferry import SingleFileParser

        class P(SingleFileParser):
            def __init__(self):
                raise ValueError("nope")
        """,
    )
    with pytest.raises(HandlerLoadError) as info:
        load_handler(f)
    assert "P" in str(info.value) and "ValueError: nope" in str(info.value) and str(f.resolve()) in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_bad_paths(tmp_path: Path, write: Write) -> None:
    with pytest.raises(HandlerLoadError, match="does not exist"):
        load_handler(tmp_path / "nope.py")
    txt = write("notes.txt", "hi")
    with pytest.raises(HandlerLoadError, match=r"not a \.py file"):
        load_handler(txt)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(HandlerLoadError, match="neither handler.py nor a letsdata_interfaces/"):
        load_handler(tmp_path / "emptydir")


def test_digest_stable_and_changes(write: Write) -> None:
    f = write("d/handler.py", PARSER)
    d1 = load_handler(f).digest
    assert d1 == load_handler(f).digest
    assert len(d1) == 64 and d1 == d1.lower()
    f.write_text(f.read_text() + "\n# changed\n")
    assert load_handler(f).digest != d1


# ----------------------------------------------------------------- LetsData project layout

LD_DOCUMENT = """
    class Document:
        def __init__(self, documentType, documentId, recordType, partitionKey, documentMetadata, documentKeyValuesMap):
            self.documentType = documentType
            self.documentId = documentId
            self.recordType = recordType
            self.partitionKey = partitionKey
            self.documentMetadata = documentMetadata
            self.documentKeyValuesMap = documentKeyValuesMap

        def getDocumentId(self):
            return self.documentId
"""

LD_PARSER = """
    from letsdata_interfaces.documents.document import Document
    from letsdata_utils.names import file_type

    class SingleFileParser:
        def getS3FileType(self):
            return file_type()

        def getResolvedS3FileName(self, s3FileType, fileName):
            return "resolved/" + fileName

        def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
            text = bytes(byteArr[startIndex:endIndex]).decode()
            return {"doc": Document("Document", text.strip(), "Line", text.strip(), {}, {"text": text})}
"""

LD_QUEUE_STUB = """
    class QueueMessageReader:
        def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
            raise Exception("Not Yet Implemented")
"""


def make_letsdata_project(write: Write, tmp_path: Path, with_init: bool = True) -> Path:
    inits = ["letsdata_interfaces/__init__.py", "letsdata_interfaces/readers/__init__.py",
             "letsdata_interfaces/readers/parsers/__init__.py", "letsdata_interfaces/readers/sqs/__init__.py",
             "letsdata_interfaces/documents/__init__.py"]
    if with_init:
        for rel in inits:
            write("ld/" + rel, "")
    write("ld/letsdata_interfaces/documents/document.py", LD_DOCUMENT)
    write("ld/letsdata_interfaces/readers/parsers/singlefileparser.py", LD_PARSER)
    write("ld/letsdata_interfaces/readers/sqs/queuemessagereader.py", LD_QUEUE_STUB)
    write("ld/letsdata_utils/__init__.py", "")
    write("ld/letsdata_utils/names.py", "def file_type():\n    return 'TXT'\n")
    write("ld/letsdata_lambda_function.py", "raise RuntimeError('the lambda entry point must not be imported')\n")
    write("ld/letsdata_interfaces/__pycache__/junk.py", "raise RuntimeError('pycache must be skipped')\n")
    return tmp_path / "ld"


@pytest.mark.parametrize("with_init", [True, False])
def test_letsdata_layout(write: Write, tmp_path: Path, with_init: bool) -> None:
    import letsdata_interfaces.readers.parsers.singlefileparser as sdk_stub  # the SDK's own copy, imported first

    assert sdk_stub.SingleFileParser is ferry.SingleFileParser
    root = make_letsdata_project(write, tmp_path, with_init)
    loaded = load_handler(root)
    assert loaded.kind == "letsdata"
    assert loaded.path == root.resolve()
    assert set(loaded.interfaces) == {"SingleFileParser", "QueueMessageReader"}
    parser = loaded.interfaces["SingleFileParser"]
    assert type(parser) is not ferry.SingleFileParser
    assert type(parser).__module__ == "letsdata_interfaces.readers.parsers.singlefileparser"
    assert sys.modules[type(parser).__module__].__file__.startswith(str(root.resolve()))
    assert parser.getS3FileType() == "TXT"
    assert parser.getResolvedS3FileName("TXT", "a") == "resolved/a"
    doc = parser.parseDocument("TXT", "f", 0, bytearray(b"hello\n"), 0, 6)["doc"]
    # the project's own document class, not ferry's
    assert type(doc).__module__ == "letsdata_interfaces.documents.document"
    assert not isinstance(doc, ferry.Document)
    assert ferry.flat_json(doc) == '{"documentId":"hello","recordType":"Line","partitionKey":"hello","documentMetadata":{},"text":"hello\\n"}'
    with pytest.raises(Exception, match="Not Yet Implemented"):
        loaded.interfaces["QueueMessageReader"].parseMessage("m", None, None, {}, "")
    # the project's package now shadows the SDK's
    assert sys.modules["letsdata_interfaces"].__path__[0].startswith(str(root.resolve()))
    # digest: every .py file of the project except __pycache__
    rels = [f.relative_to(root.resolve()).as_posix() for f in loaded.files]
    assert rels == sorted(rels)
    assert "letsdata_lambda_function.py" in rels and "letsdata_utils/names.py" in rels
    assert not any("__pycache__" in r for r in rels)
    h = hashlib.sha256()
    for rel in rels:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    assert loaded.digest == h.hexdigest()


def test_letsdata_layout_ignores_sdk_classes_and_reports_errors(write: Write, tmp_path: Path) -> None:
    root = make_letsdata_project(write, tmp_path)
    # a module that re-exports the SDK's SingleFileParser must not count: it is not defined in the project
    write("ld/letsdata_interfaces/readers/model/__init__.py", "")
    write("ld/letsdata_interfaces/readers/model/sdk.py", "from ferry import SingleFileParser, KinesisRecordReader\n")
    loaded = load_handler(root)
    assert "KinesisRecordReader" not in loaded.interfaces
    assert type(loaded.interfaces["SingleFileParser"]) is not ferry.SingleFileParser

    digest = loaded.digest
    (root / "letsdata_utils" / "names.py").write_text("def file_type():\n    return 'TXT2'\n")
    reloaded = load_handler(root)
    assert reloaded.digest != digest
    assert reloaded.interfaces["SingleFileParser"].getS3FileType() == "TXT2"

    bad = write("ld/letsdata_interfaces/readers/parsers/singlefileparser.py", "class SingleFileParser(:\n")
    with pytest.raises(HandlerLoadError) as info:
        load_handler(root)
    assert str(info.value).startswith(f"cannot import handler {bad.resolve()}: SyntaxError")
    assert "line 1" in str(info.value)
    assert "letsdata_interfaces" not in sys.modules
