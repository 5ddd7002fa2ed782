"""Benchmark handler T: no JSON parsing.

The document is {"documentId": line[-18:-2], "len": len(line)}, where line
is the record without its newline (the id is always the last field).
"""

from ferry import (
    Document,
    DocumentType,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    SingleFileParser,
)


class TrivialParser(SingleFileParser):
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
        document = Document(
            DocumentType.Document, line[-18:-2], None, None, None, {"len": len(line)}
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
