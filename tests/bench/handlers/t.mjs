// Benchmark handler T: no JSON parsing.
//
// The document is {"documentId": line.slice(-18, -2), "len": line.length},
// where line is the record without its newline (the id is always the last
// field).

import {
  Document,
  DocumentType,
  ParseDocumentResult,
  ParseDocumentResultStatus,
  RecordParseHint,
  SingleFileParser,
} from "ferry";

export class TrivialParser extends SingleFileParser {
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
    let line = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex));
    if (line.endsWith("\n")) {
      line = line.slice(0, -1);
    }
    const document = new Document(
      DocumentType.Document, line.slice(-18, -2), null, null, null, { len: line.length },
    );
    return new ParseDocumentResult(null, document, ParseDocumentResultStatus.SUCCESS);
  }
}
