// A SingleFileParser for JSON log lines: the JavaScript twin of
// examples/python-logs/handler.py, writing the same documents.
//
// One line is one record. A line becomes a LogEntry document keyed by its
// `id`; DEBUG lines are skipped; a line that is not JSON becomes an error
// document; a line without an `id` throws, which ferry records as an error
// with the stack.

import {
  Document,
  DocumentType,
  ErrorDoc,
  ParseDocumentResult,
  ParseDocumentResultStatus,
  RecordParseHint,
  SingleFileParser,
  SkipDoc,
} from "ferry";

// Named like Python's, so both twins report a missing field the same way.
class KeyError extends Error {}

function field(entry, name) {
  if (!(name in entry)) {
    throw new KeyError(`'${name}'`);
  }
  return entry[name];
}

export class LogLineParser extends SingleFileParser {
  getS3FileType() {
    return "LOGS";
  }

  getResolvedS3FileName(s3FileType, fileName) {
    return fileName;
  }

  getRecordStartPattern(s3FileType) {
    // Every record starts where the previous one ended.
    return RecordParseHint.ofOffset(0);
  }

  getRecordEndPattern(s3FileType) {
    return RecordParseHint.ofPattern("\n");
  }

  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    const line = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex)).trim();
    const offsets = (end) => ({ [s3FileType]: String(end) });
    let entry;
    try {
      entry = JSON.parse(line);
    } catch (err) {
      const error = new ErrorDoc(null, "LogEntry", s3Filename, {}, null, offsets(offsetBytes),
        offsets(offsetBytes + endIndex), `not JSON: ${err.message}`);
      return new ParseDocumentResult(null, error, ParseDocumentResultStatus.ERROR);
    }
    if (entry.level === "DEBUG") {
      const skip = new SkipDoc(entry.id ?? null, "LogEntry", s3Filename, {}, null, offsets(offsetBytes),
        offsets(offsetBytes + endIndex), "debug line");
      return new ParseDocumentResult(null, skip, ParseDocumentResultStatus.SKIP);
    }
    const document = new Document(
      DocumentType.Document,
      field(entry, "id"),
      "LogEntry",
      field(entry, "host"),
      { file: s3Filename, offset: offsetBytes },
      { ts: field(entry, "ts"), level: field(entry, "level"), host: field(entry, "host"), msg: field(entry, "msg") },
    );
    return new ParseDocumentResult(null, document, ParseDocumentResultStatus.SUCCESS);
  }
}
