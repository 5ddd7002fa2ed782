// The conformance handler, JavaScript twin of handler.py and of the Rust
// handlers in tests/src/conformance.rs. Keep the three in step: every case of
// cases.json must give the same outcome on all of them. See README.md for
// what each argument and record does.

import {
  DynamoDBStreamsRecordReader,
  DynamoDBTableItemReader,
  Document,
  ErrorDoc,
  KinesisRecordReader,
  ParseDocumentResult,
  ParseDocumentResultStatus as Status,
  QueueMessageReader,
  RecordParseHint,
  RetryableError,
  SagemakerVectorsInterface,
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

// ----------------------------------------------------------------- readers

/**
 * The commands every reader shares; `position` (a string) names the record
 * in the offsets of a SkipDoc or ErrorDoc and is their documentId.
 */
function readerResult(command, argument, positionKey, position, recordType, makeDocument) {
  switch (command) {
    case "doc":
      return success(makeDocument(argument));
    case "skip":
      return new ParseDocumentResult(
        null,
        SkipDoc.of({
          documentId: position,
          recordType,
          errorStartoffsetMap: { [positionKey]: position },
          errorEndoffsetMap: { [positionKey]: position },
          skipMessage: argument,
        }),
        Status.SKIP,
      );
    case "error":
      return new ParseDocumentResult(
        null,
        ErrorDoc.of({
          documentId: position,
          recordType,
          documentMetadata: { reason: "conformance" },
          errorStartoffsetMap: { [positionKey]: position },
          errorEndoffsetMap: { [positionKey]: position },
          errorMessage: argument,
        }),
        Status.ERROR,
      );
    case "skipnone":
      return new ParseDocumentResult(null, null, Status.SKIP);
    case "raise":
      throw new ConformanceError(argument);
    case "retry":
      throw new RetryableError(argument);
    case "invalid":
      return new ParseDocumentResult(null, null, Status.SUCCESS);
    default:
      throw new ConformanceError(`unknown command ${command}`);
  }
}

/** The key values (strings or integers) joined with "|". */
function keyId(keys) {
  return Object.values(keys).map(String).join("|");
}

export class ConformanceQueueReader extends QueueMessageReader {
  parseMessage(messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody) {
    const [command, argument] = partition(messageBody);
    return readerResult(command, argument, "messageId", messageId, "Message", (id) =>
      Document.of({
        documentId: id,
        recordType: "Message",
        partitionKey: messageGroupId ?? messageId,
        documentMetadata: { messageId },
        documentKeyValuesMap: { messageGroupId, messageDeduplicationId, messageAttributes, messageBody },
      }),
    );
  }
}

export class ConformanceKinesisReader extends KinesisRecordReader {
  parseMessage(streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data) {
    if (data.length >= 4 && new TextDecoder().decode(data.subarray(0, 4)) === "bin:") {
      return success(
        Document.of({
          documentId: `bin@${sequenceNumber}`,
          recordType: "Binary",
          partitionKey,
          documentKeyValuesMap: { hex: hex(data.subarray(4)), length: data.length },
        }),
      );
    }
    const text = new TextDecoder().decode(data);
    const [command, argument] = partition(text);
    return readerResult(command, argument, "sequenceNumber", sequenceNumber, "Record", (id) =>
      Document.of({
        documentId: id,
        recordType: "Record",
        partitionKey,
        documentMetadata: { shardId, sequenceNumber },
        documentKeyValuesMap: { streamArn, approximateArrivalTimestamp, data: text, length: data.length },
      }),
    );
  }
}

export class ConformanceStreamsReader extends DynamoDBStreamsRecordReader {
  parseRecord(
    streamArn,
    shardId,
    eventId,
    eventName,
    identityPrincipalId,
    identityType,
    sequenceNumber,
    sizeBytes,
    streamViewType,
    approximateCreationDateTime,
    keys,
    oldImage,
    newImage,
  ) {
    const [command, argument] = partition(eventId);
    return readerResult(command, argument, "sequenceNumber", sequenceNumber, "StreamRecord", () =>
      Document.of({
        documentId: keyId(keys),
        recordType: eventName,
        partitionKey: shardId,
        documentMetadata: { sequenceNumber, sizeBytes, streamViewType, approximateCreationDateTime },
        documentKeyValuesMap: { streamArn, eventId, identityPrincipalId, identityType, keys, oldImage, newImage },
      }),
    );
  }
}

export class ConformanceTableReader extends DynamoDBTableItemReader {
  parseDynamoDBItem(tableName, segmentNumber, keys, item) {
    const [command, argument] = partition(tableName);
    return readerResult(command, argument, "segmentNumber", String(segmentNumber), "Item", (partitionKey) =>
      Document.of({
        documentId: keyId(keys),
        recordType: "Item",
        partitionKey,
        documentMetadata: { segmentNumber },
        documentKeyValuesMap: { tableName, keys, item },
      }),
    );
  }
}

// --------------------------------------------------------------- sagemaker

export class ConformanceVectors extends SagemakerVectorsInterface {
  extractDocumentElementsForVectorization(document) {
    const [command, argument] = partition(document.command);
    switch (command) {
      case "elements":
        // Values are passed as they are: a non-text one is an invalid result.
        return Object.fromEntries(Object.entries(document).filter(([name]) => name.startsWith("text")));
      case "raise":
        throw new ConformanceError(argument);
      case "retry":
        throw new RetryableError(argument);
      default:
        throw new ConformanceError(`unknown command ${command}`);
    }
  }

  constructVectorDoc(documentInterface, vectorsMap) {
    const [command, argument] = partition(documentInterface.command);
    const documentId = documentInterface.documentId;
    switch (command) {
      case "vectors": {
        // Head entries are left out by the flat form itself.
        const values = Object.fromEntries(
          Object.entries(documentInterface).filter(([name]) => name !== "command" && !name.startsWith("text")),
        );
        values.vectors = vectorsMap;
        return Document.of({
          documentId,
          recordType: "Vectors",
          partitionKey: documentInterface.partitionKey,
          documentMetadata: documentInterface.documentMetadata,
          documentKeyValuesMap: values,
        });
      }
      case "error":
        return ErrorDoc.of({
          documentId,
          recordType: "Vectors",
          errorStartoffsetMap: { documentId },
          errorEndoffsetMap: { documentId },
          errorMessage: argument,
        });
      case "raise":
        throw new ConformanceError(argument);
      case "retry":
        throw new RetryableError(argument);
      default:
        throw new ConformanceError(`unknown command ${command}`);
    }
  }
}
