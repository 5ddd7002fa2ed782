/**
 * ferry JavaScript SDK: handler interfaces, document model, record cutting and
 * handler discovery.
 *
 * A handler extends one of the interface classes (LetsData-compatible names and
 * signatures) and returns ParseDocumentResult objects holding a Document,
 * ErrorDoc or SkipDoc. Run a SingleFileParser over sample files with
 * `node src/harness.js` (the `ferry/harness` entry point, Node only).
 *
 * Everything exported here is engine-neutral (plain ES2020, no Node APIs): the
 * bridge runs it inside QuickJS.
 */

export { DocumentType, Document, ErrorDoc, SkipDoc, RESERVED_KEYS, flatJson } from "./documents.js";
export { ParseDocumentResultStatus, ParseDocumentResult, RecordHintType, RecordParseHint } from "./results.js";
export {
  NOT_YET_IMPLEMENTED,
  INTERFACE_MARK,
  SingleFileParser,
  QueueMessageReader,
  KinesisRecordReader,
  DynamoDBStreamsRecordReader,
  DynamoDBTableItemReader,
  SagemakerVectorsInterface,
  INTERFACE_NAMES,
  INTERFACE_CLASSES,
} from "./interfaces.js";
export { RetryableError, HandlerLoadError } from "./errors.js";
export { iterRecords, normalizeHint, indexOfBytes } from "./records.js";
export { utf8Encode, utf8Decode } from "./text.js";
export { findHandlers, inheritedInterface } from "./discover.js";

/** Version of the SDK (the same as the Python SDK's `ferry.__version__`). */
export const VERSION = "0.1.0";
