"""Benchmark handler J: one json.loads per record.

The document is {"documentId": o["id"], "level": o["level"],
"len": len(o["msg"])} with o = json.loads(line).
"""

import json

from ferry import (
    Document,
    DocumentType,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    SingleFileParser,
)


class JsonParser(SingleFileParser):
    def getS3FileType(self):
        return "LOGS"

    def getResolvedS3FileName(self, s3FileType, fileName):
        return fileName

    def getRecordStartPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.OFFSET, None, 0)

    def getRecordEndPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.PATTERN, "\n", -1)

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        line = byteArr[startIndex:endIndex].decode("utf-8").rstrip("\n")
        o = json.loads(line)
        document = Document(
            DocumentType.Document,
            o["id"],
            None,
            None,
            None,
            {"level": o["level"], "len": len(o["msg"])},
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
