// The conformance handler, JavaScript twin of handler.py and of the Rust
// handler in tests/src/conformance.rs. Keep the three in step: every case of
// cases.json must give the same outcome on all of them. See handler.py for
// what each argument and record does.

import {
  Document,
  ErrorDoc,
  ParseDocumentResult,
  ParseDocumentResultStatus as Status,
  RecordParseHint,
  RetryableError,
  SingleFileParser,
  SkipDoc,
} from "ferry";

export class ConformanceError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConformanceError";
  }
}

/** Splits "command:argument" at the first colon. */
function partition(text) {
  const colon = text.indexOf(":");
  return colon < 0 ? [text, ""] : [text.slice(0, colon), text.slice(colon + 1)];
}

function hint(s3FileType, fallback) {
  const [command, argument] = partition(s3FileType);
  if (command === "PATTERN") return RecordParseHint.ofPattern(argument);
  if (command === "OFFSET") return RecordParseHint.ofOffset(Number.parseInt(argument, 10));
  if (command === "EMPTY") return RecordParseHint.ofPattern("");
  if (command === "raise") throw new ConformanceError(argument);
  return RecordParseHint.ofPattern(fallback);
}

function success(document) {
  return new ParseDocumentResult(null, document, Status.SUCCESS);
}

function hex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class ConformanceParser extends SingleFileParser {
  getS3FileType() {
    return "CONFORMANCE";
  }

  getResolvedS3FileName(s3FileType, fileName) {
    if (fileName.startsWith("raise:")) throw new ConformanceError(fileName.slice("raise:".length));
    return `${s3FileType}/${fileName}`;
  }

  getRecordStartPattern(s3FileType) {
    return hint(s3FileType, `<${s3FileType}>`);
  }

  getRecordEndPattern(s3FileType) {
    return hint(s3FileType, "\n");
  }

  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    const record = byteArr.subarray(startIndex, endIndex);
    const length = endIndex - startIndex;
    const end = offsetBytes + length;
    const prefix = new TextDecoder().decode(record.subarray(0, 4));
    if (record.length >= 4 && prefix === "bin:") {
      return success(
        Document.of({
          documentId: `bin@${offsetBytes}`,
          recordType: "Binary",
          partitionKey: s3Filename,
          documentKeyValuesMap: { hex: hex(record.subarray(4)), length },
        }),
      );
    }
    const [command, argument] = partition(new TextDecoder().decode(record));
    switch (command) {
      case "doc":
        return success(
          Document.of({
            documentId: argument,
            recordType: "Conformance",
            partitionKey: s3Filename,
            documentMetadata: { fileType: s3FileType, offset: offsetBytes },
            documentKeyValuesMap: { text: argument, length },
          }),
        );
      case "echo":
        return success(
          Document.of({
            documentId: `${s3Filename}@${offsetBytes}`,
            recordType: "Echo",
            partitionKey: argument,
            documentKeyValuesMap: {
              s3FileType,
              s3Filename,
              offsetBytes,
              startIndex,
              endIndex,
              byteArrLength: byteArr.length,
            },
          }),
        );
      case "skip":
        return new ParseDocumentResult(
          null,
          SkipDoc.of({
            documentId: `skip@${offsetBytes}`,
            recordType: "Skip",
            partitionKey: s3Filename,
            errorStartoffsetMap: { [s3FileType]: offsetBytes },
            errorEndoffsetMap: { [s3FileType]: end },
            skipMessage: argument,
          }),
          Status.SKIP,
        );
      case "error":
        return new ParseDocumentResult(
          null,
          ErrorDoc.of({
            documentId: `error@${offsetBytes}`,
            recordType: "Error",
            partitionKey: s3Filename,
            documentMetadata: { reason: "conformance" },
            errorStartoffsetMap: { [s3FileType]: offsetBytes, line: 1 },
            errorEndoffsetMap: { [s3FileType]: end, line: 2 },
            errorMessage: argument,
          }),
          Status.ERROR,
        );
      case "skipnone":
        return new ParseDocumentResult(null, null, Status.SKIP);
      case "bare":
        return success(Document.of({ documentId: "bare" }));
      case "raise":
        throw new ConformanceError(argument);
      case "retry":
        throw new RetryableError(argument);
      case "unicode":
        return success(
          Document.of({
            documentId: "unicode-ü",
            recordType: "Unicode",
            partitionKey: "東京",
            documentKeyValuesMap: {
              latin: "Zürich",
              arrow: "a → b",
              cjk: "東京",
              emoji: "😀",
              quote: 'say "hi"',
              escapes: "line\nnext\ttab\\slash",
              argument,
            },
          }),
        );
      case "nested":
        return success(
          Document.of({
            documentId: "nested",
            recordType: "Nested",
            partitionKey: "p",
            documentMetadata: { depth: 3, tags: ["a", "b"] },
            documentKeyValuesMap: {
              object: { inner: { flag: false, none: null } },
              list: [1, "two", null, true, [3, { k: "v" }]],
              emptyObject: {},
              emptyList: [],
              documentId: "shadowed",
              partitionKey: "shadowed",
            },
          }),
        );
      case "numbers":
        return success(
          Document.of({
            documentId: "numbers",
            recordType: "Numbers",
            partitionKey: "n",
            documentKeyValuesMap: {
              zero: 0,
              negative: -7,
              large: 9007199254740991,
              half: 0.5,
              quarter: -2.25,
              price: 12.5,
              decimal: 1234.5678,
              tenth: 0.1,
            },
          }),
        );
      case "invalid":
        return new ParseDocumentResult(null, null, Status.SUCCESS);
      default:
        throw new ConformanceError(`unknown command ${command}`);
    }
  }
}
