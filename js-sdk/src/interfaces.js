/**
 * The handler interfaces (LetsData-compatible names, parameter names and order).
 *
 * Write a handler by extending one of these classes and overriding the methods
 * you need; a method you do not override throws
 * `new Error("Not Yet Implemented")` when called. (A class named like one of
 * the interfaces that does not extend these works too: see discover.js.)
 *
 * Contract:
 *
 * - Handlers are *stateless*: the host may create a new instance (no
 *   constructor arguments) for any call, or reuse one across calls, in any
 *   order, so do not keep per-record state on `this`.
 * - Reader methods return a ParseDocumentResult whose `document` is a Document
 *   (status SUCCESS), an ErrorDoc (ERROR) or a SkipDoc (SKIP). A method may
 *   also return a Promise of it.
 * - Throwing a RetryableError (or anything with `retryable === true`) reports
 *   a retryable failure; any other thrown value is a non-retryable failure of
 *   that record.
 *
 * Engine-neutral: no Node APIs.
 */

/** Message of the Error thrown by methods that are not overridden. */
export const NOT_YET_IMPLEMENTED = "Not Yet Implemented";

/**
 * Static property (a registered symbol, so it is shared by every copy of the
 * SDK loaded in one realm) that names the interface of an SDK base class.
 * Subclasses inherit it; only the base class has it as an own property.
 */
export const INTERFACE_MARK = Symbol.for("ferry.interface");

/** Parses the records of one file (S3 object) of a single file type. */
export class SingleFileParser {
  /** The file type this parser handles (e.g. "WET"). */
  getS3FileType() {
    throw new Error(NOT_YET_IMPLEMENTED);
  }

  /** Map a manifest file name to the S3 key to read (often the identity). */
  getResolvedS3FileName(s3FileType, fileName) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }

  /** Where a record starts (a RecordParseHint; see records.js). */
  getRecordStartPattern(s3FileType) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }

  /** Where a record ends (a RecordParseHint; see records.js). */
  getRecordEndPattern(s3FileType) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }

  /**
   * Parse one record. `byteArr` is a Uint8Array holding the whole record
   * (`startIndex` is 0 and `endIndex` is `byteArr.length`); `offsetBytes` is
   * the byte offset of the record in the (decompressed) file.
   */
  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** Turns one SQS message into a document. */
export class QueueMessageReader {
  /**
   * `messageGroupId` / `messageDeduplicationId` are null for standard queues;
   * `messageAttributes` maps each attribute name to its string value.
   */
  parseMessage(messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** Turns one Kinesis record into a document. */
export class KinesisRecordReader {
  /** `approximateArrivalTimestamp` is epoch milliseconds; `data` is the record bytes (Uint8Array). */
  parseMessage(streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** Turns one DynamoDB Streams record into a document. */
export class DynamoDBStreamsRecordReader {
  /**
   * `eventName` is INSERT|MODIFY|REMOVE; `approximateCreationDateTime` is epoch
   * seconds; `keys` / `oldImage` / `newImage` are plain JSON objects (`{}` when
   * absent).
   */
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
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** Turns one item of a DynamoDB table scan into a document. */
export class DynamoDBTableItemReader {
  parseDynamoDBItem(tableName, segmentNumber, keys, item) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** Selects the text to embed and builds the document from the vectors. */
export class SagemakerVectorsInterface {
  /**
   * `document` is the flat document object (as sinks write it); return
   * `{friendlyName: text}` (an object or a Map of strings).
   */
  extractDocumentElementsForVectorization(document) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }

  /**
   * Return a Document (an ErrorDoc or SkipDoc keeps its type) built from the
   * flat document object and `vectorsMap`, `{friendlyName: [number, ...]}`
   * with one vector per name extraction returned.
   */
  constructVectorDoc(documentInterface, vectorsMap) {
    throw new Error(NOT_YET_IMPLEMENTED);
  }
}

/** The wire names of the six interfaces, in a fixed order. */
export const INTERFACE_NAMES = Object.freeze([
  "SingleFileParser",
  "QueueMessageReader",
  "KinesisRecordReader",
  "DynamoDBStreamsRecordReader",
  "DynamoDBTableItemReader",
  "SagemakerVectorsInterface",
]);

/** Wire interface name -> ferry base class. */
export const INTERFACE_CLASSES = Object.freeze({
  SingleFileParser,
  QueueMessageReader,
  KinesisRecordReader,
  DynamoDBStreamsRecordReader,
  DynamoDBTableItemReader,
  SagemakerVectorsInterface,
});

for (const name of INTERFACE_NAMES) {
  Object.defineProperty(INTERFACE_CLASSES[name], INTERFACE_MARK, { value: name });
}
