"""A SingleFileParser for JSON log lines.

One line is one record. A line becomes a LogEntry document keyed by its
``id``; DEBUG lines are skipped; a line that is not JSON becomes an error
document; a line without an ``id`` raises, which ferry records as an error
with the traceback.
"""

import json

from ferry import (
    Document,
    DocumentType,
    ErrorDoc,
    ParseDocumentResult,
    ParseDocumentResultStatus,
    RecordHintType,
    RecordParseHint,
    SingleFileParser,
    SkipDoc,
)


class LogLineParser(SingleFileParser):
    def getS3FileType(self):
        return "LOGS"

    def getResolvedS3FileName(self, s3FileType, fileName):
        return fileName

    def getRecordStartPattern(self, s3FileType):
        # Every record starts where the previous one ended.
        return RecordParseHint(RecordHintType.OFFSET, None, 0)

    def getRecordEndPattern(self, s3FileType):
        return RecordParseHint(RecordHintType.PATTERN, "\n", -1)

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        line = bytes(byteArr[startIndex:endIndex]).decode("utf-8").strip()
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            error = ErrorDoc(
                documentId=None,
                recordType="LogEntry",
                partitionKey=s3Filename,
                documentMetadata={},
                documentKeyValuesMap=None,
                errorStartoffsetMap={s3FileType: str(offsetBytes)},
                errorEndoffsetMap={s3FileType: str(offsetBytes + endIndex)},
                errorMessage=f"not JSON: {err}",
            )
            return ParseDocumentResult(None, error, ParseDocumentResultStatus.ERROR)
        if entry.get("level") == "DEBUG":
            skip = SkipDoc(
                documentId=entry.get("id"),
                recordType="LogEntry",
                partitionKey=s3Filename,
                documentMetadata={},
                documentKeyValuesMap=None,
                errorStartoffsetMap={s3FileType: str(offsetBytes)},
                errorEndoffsetMap={s3FileType: str(offsetBytes + endIndex)},
                skipMessage="debug line",
            )
            return ParseDocumentResult(None, skip, ParseDocumentResultStatus.SKIP)
        document = Document(
            DocumentType.Document,
            entry["id"],
            "LogEntry",
            entry["host"],
            {"file": s3Filename, "offset": offsetBytes},
            {"ts": entry["ts"], "level": entry["level"], "host": entry["host"], "msg": entry["msg"]},
        )
        return ParseDocumentResult(None, document, ParseDocumentResultStatus.SUCCESS)
