// Benchmark handler J: one JSON.parse per record.
//
// The document is {"documentId": o.id, "level": o.level, "len": o.msg.length}
// with o = JSON.parse(line).

import {
  Document,
  DocumentType,
  ParseDocumentResult,
  ParseDocumentResultStatus,
  RecordParseHint,
  SingleFileParser,
} from "ferry";

export class JsonParser extends SingleFileParser {
  getS3FileType() {
    return "LOGS";
  }

  getResolvedS3FileName(s3FileType, fileName) {
    return fileName;
  }

  getRecordStartPattern(s3FileType) {
    return RecordParseHint.ofOffset(0);
  }

  getRecordEndPattern(s3FileType) {
    return RecordParseHint.ofPattern("\n");
  }

  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    const line = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex));
    const o = JSON.parse(line);
    const document = new Document(
      DocumentType.Document, o.id, null, null, null, { level: o.level, len: o.msg.length },
    );
    return new ParseDocumentResult(null, document, ParseDocumentResultStatus.SUCCESS);
  }
}
