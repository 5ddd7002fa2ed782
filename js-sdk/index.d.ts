// Types of the ferry JavaScript SDK (the "ferry" entry point).
// The Node-only harness has its own declarations in src/harness.d.ts.

// ------------------------------------------------------------------ documents

/** Kind of a document; the value equals the name. */
export declare const DocumentType: Readonly<{
  Document: "Document";
  ErrorDoc: "ErrorDoc";
  SkipDoc: "SkipDoc";
}>;
export type DocumentType = (typeof DocumentType)[keyof typeof DocumentType];

/** A JSON value as written in flat documents. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };
/** A document body: an object or a Map with string keys. */
export type KeyValues = Record<string, unknown> | Map<string, unknown>;
/** File type (or other source identifier) -> offset, as a string. */
export type OffsetMap = Record<string, string>;

/** What the bridge and flatJson read from a document (by property name). */
export interface DocumentLike {
  documentId?: string | null;
  recordType?: string | null;
  partitionKey?: string | null;
  documentMetadata?: Record<string, unknown> | null;
  documentKeyValuesMap?: KeyValues | null;
}

/** The keys written first in flat JSON; map entries with these names are ignored. */
export declare const RESERVED_KEYS: readonly ["documentId", "recordType", "partitionKey", "documentMetadata"];

export interface DocumentFields {
  documentType?: DocumentType | string | null;
  documentId?: string | null;
  recordType?: string | null;
  partitionKey?: string | null;
  documentMetadata?: Record<string, unknown> | null;
  documentKeyValuesMap?: KeyValues | null;
}

/** A document produced by a handler (goes to the write destination). */
export declare class Document implements DocumentLike {
  constructor(
    documentType?: DocumentType | string | null,
    documentId?: string | null,
    recordType?: string | null,
    partitionKey?: string | null,
    documentMetadata?: Record<string, unknown> | null,
    documentKeyValuesMap?: KeyValues | null,
  );
  /** Build a Document from named fields. */
  static of(fields?: DocumentFields): Document;
  documentType: DocumentType | string | null;
  documentId: string | null;
  recordType: string | null;
  partitionKey: string | null;
  documentMetadata: Record<string, unknown> | null;
  documentKeyValuesMap: KeyValues | null;
  getDocumentType(): DocumentType | string | null;
  getDocumentId(): string | null;
  getRecordType(): string | null;
  getPartitionKey(): string | null;
  getDocumentMetadata(): Record<string, unknown> | null;
  getDocumentKeyValuesMap(): KeyValues | null;
  /** The flat JSON string of this document (see flatJson). */
  serialize(): string;
}

export interface ErrorDocFields extends Omit<DocumentFields, "documentType"> {
  errorStartoffsetMap?: OffsetMap | null;
  errorEndoffsetMap?: OffsetMap | null;
  errorMessage?: string | null;
}

/** A record that could not be processed (goes to the error destination). */
export declare class ErrorDoc extends Document {
  constructor(
    documentId?: string | null,
    recordType?: string | null,
    partitionKey?: string | null,
    documentMetadata?: Record<string, unknown> | null,
    documentKeyValuesMap?: KeyValues | null,
    errorStartoffsetMap?: OffsetMap | null,
    errorEndoffsetMap?: OffsetMap | null,
    errorMessage?: string | null,
  );
  /** Build an ErrorDoc from named fields. */
  static of(fields?: ErrorDocFields): ErrorDoc;
  documentType: "ErrorDoc";
  /** Note the lowercase "o" (LetsData wire name); the getter is getErrorStartOffsetMap. */
  errorStartoffsetMap: OffsetMap | null;
  errorEndoffsetMap: OffsetMap | null;
  errorMessage: string | null;
  getErrorStartOffsetMap(): OffsetMap | null;
  getErrorEndOffsetMap(): OffsetMap | null;
  getErrorMessage(): string | null;
}

export interface SkipDocFields extends Omit<DocumentFields, "documentType"> {
  errorStartoffsetMap?: OffsetMap | null;
  errorEndoffsetMap?: OffsetMap | null;
  skipMessage?: string | null;
}

/** A record that is intentionally not written anywhere (only checkpointed). */
export declare class SkipDoc extends Document {
  constructor(
    documentId?: string | null,
    recordType?: string | null,
    partitionKey?: string | null,
    documentMetadata?: Record<string, unknown> | null,
    documentKeyValuesMap?: KeyValues | null,
    errorStartoffsetMap?: OffsetMap | null,
    errorEndoffsetMap?: OffsetMap | null,
    skipMessage?: string | null,
  );
  /** Build a SkipDoc from named fields. */
  static of(fields?: SkipDocFields): SkipDoc;
  documentType: "SkipDoc";
  errorStartoffsetMap: OffsetMap | null;
  errorEndoffsetMap: OffsetMap | null;
  skipMessage: string | null;
  getErrorStartOffsetMap(): OffsetMap | null;
  getErrorEndOffsetMap(): OffsetMap | null;
  getSkipMessage(): string | null;
}

/**
 * The flat JSON of a document: documentId, recordType, partitionKey,
 * documentMetadata ({} when null), then the documentKeyValuesMap entries whose
 * key is not one of those four. Throws TypeError for values JSON cannot hold.
 */
export declare function flatJson(document: DocumentLike): string;

// ------------------------------------------------------------------ results

/** Outcome of parsing one record; the value equals the name. */
export declare const ParseDocumentResultStatus: Readonly<{
  SUCCESS: "SUCCESS";
  ERROR: "ERROR";
  SKIP: "SKIP";
}>;
export type ParseDocumentResultStatus = (typeof ParseDocumentResultStatus)[keyof typeof ParseDocumentResultStatus];

/** Result of a reader call. */
export declare class ParseDocumentResult<D extends DocumentLike = Document> {
  constructor(nextRecordType?: string | null, document?: D | null, status?: ParseDocumentResultStatus | null);
  /** Null for the stateless JavaScript interfaces. */
  nextRecordType: string | null;
  document: D | null;
  status: ParseDocumentResultStatus | null;
  getNextRecordType(): string | null;
  getDocument(): D | null;
  getStatus(): ParseDocumentResultStatus | null;
}

/** How a record boundary is found. */
export declare const RecordHintType: Readonly<{
  OFFSET: "OFFSET";
  PATTERN: "PATTERN";
}>;
export type RecordHintType = (typeof RecordHintType)[keyof typeof RecordHintType];

/** A record start or end delimiter. */
export declare class RecordParseHint {
  constructor(recordHintType: RecordHintType, pattern?: string | null, offset?: number);
  /** A PATTERN hint (offset -1). */
  static ofPattern(pattern: string): RecordParseHint;
  /** An OFFSET hint (pattern null). */
  static ofOffset(offset: number): RecordParseHint;
  recordHintType: RecordHintType;
  pattern: string | null;
  offset: number;
  getRecordHintType(): RecordHintType;
  /** Throws unless this is a PATTERN hint. */
  getPattern(): string | null;
  /** Throws unless this is an OFFSET hint. */
  getOffset(): number;
}

/** What the record cutter accepts as a hint (duck-typed, type matched case-insensitively). */
export type RecordParseHintLike =
  | RecordParseHint
  | { recordHintType: string | { value?: string; name?: string }; pattern?: string | Uint8Array | null; offset?: number }
  | Map<string, unknown>;

// ------------------------------------------------------------------ interfaces

/** A value or a Promise of it: every handler method may be async. */
export type MaybePromise<T> = T | Promise<T>;

/** Message of the Error thrown by methods that are not overridden. */
export declare const NOT_YET_IMPLEMENTED: "Not Yet Implemented";

/** Registered symbol naming the interface of an SDK base class (a static property). */
export declare const INTERFACE_MARK: unique symbol;

/** Parses the records of one file of a single file type. */
export declare class SingleFileParser {
  getS3FileType(): MaybePromise<string>;
  getResolvedS3FileName(s3FileType: string, fileName: string): MaybePromise<string>;
  getRecordStartPattern(s3FileType: string): MaybePromise<RecordParseHintLike>;
  getRecordEndPattern(s3FileType: string): MaybePromise<RecordParseHintLike>;
  /** `byteArr` is the whole record: startIndex is 0 and endIndex is byteArr.length. */
  parseDocument(
    s3FileType: string,
    s3Filename: string,
    offsetBytes: number,
    byteArr: Uint8Array,
    startIndex: number,
    endIndex: number,
  ): MaybePromise<ParseDocumentResult<DocumentLike>>;
}

/** Turns one SQS message into a document. */
export declare class QueueMessageReader {
  parseMessage(
    messageId: string,
    messageGroupId: string | null,
    messageDeduplicationId: string | null,
    /** String values of the message attributes, by name (in name order). */
    messageAttributes: Record<string, string>,
    messageBody: string,
  ): MaybePromise<ParseDocumentResult<DocumentLike>>;
}

/** Turns one Kinesis record into a document. */
export declare class KinesisRecordReader {
  parseMessage(
    streamArn: string,
    shardId: string,
    partitionKey: string,
    sequenceNumber: string,
    /** Epoch milliseconds. */
    approximateArrivalTimestamp: number,
    data: Uint8Array,
  ): MaybePromise<ParseDocumentResult<DocumentLike>>;
}

/** Turns one DynamoDB Streams record into a document. */
export declare class DynamoDBStreamsRecordReader {
  parseRecord(
    streamArn: string,
    shardId: string,
    eventId: string,
    /** INSERT | MODIFY | REMOVE */
    eventName: string,
    identityPrincipalId: string | null,
    identityType: string | null,
    sequenceNumber: string,
    sizeBytes: number,
    /** NEW_IMAGE | OLD_IMAGE | NEW_AND_OLD_IMAGES | KEYS_ONLY */
    streamViewType: string,
    /** Epoch seconds. */
    approximateCreationDateTime: number,
    keys: Record<string, unknown>,
    oldImage: Record<string, unknown>,
    newImage: Record<string, unknown>,
  ): MaybePromise<ParseDocumentResult<DocumentLike>>;
}

/** Turns one item of a DynamoDB table scan into a document. */
export declare class DynamoDBTableItemReader {
  parseDynamoDBItem(
    tableName: string,
    segmentNumber: number,
    keys: Record<string, unknown>,
    item: Record<string, unknown>,
  ): MaybePromise<ParseDocumentResult<DocumentLike>>;
}

/** Selects the text to embed and builds the document from the vectors. */
export declare class SagemakerVectorsInterface {
  /** `document` is the flat document object; returns {friendlyName: text}. */
  extractDocumentElementsForVectorization(document: Record<string, unknown>): MaybePromise<Record<string, string>>;
  constructVectorDoc(
    documentInterface: Record<string, unknown>,
    vectorsMap: Record<string, number[]>,
  ): MaybePromise<DocumentLike>;
}

/** The six interface names, in a fixed order. */
export type InterfaceName =
  | "SingleFileParser"
  | "QueueMessageReader"
  | "KinesisRecordReader"
  | "DynamoDBStreamsRecordReader"
  | "DynamoDBTableItemReader"
  | "SagemakerVectorsInterface";

export declare const INTERFACE_NAMES: readonly [
  "SingleFileParser",
  "QueueMessageReader",
  "KinesisRecordReader",
  "DynamoDBStreamsRecordReader",
  "DynamoDBTableItemReader",
  "SagemakerVectorsInterface",
];

/** Interface name -> SDK base class. */
export declare const INTERFACE_CLASSES: Readonly<{
  SingleFileParser: typeof SingleFileParser;
  QueueMessageReader: typeof QueueMessageReader;
  KinesisRecordReader: typeof KinesisRecordReader;
  DynamoDBStreamsRecordReader: typeof DynamoDBStreamsRecordReader;
  DynamoDBTableItemReader: typeof DynamoDBTableItemReader;
  SagemakerVectorsInterface: typeof SagemakerVectorsInterface;
}>;

// ------------------------------------------------------------------ errors

/** Throw from a handler to report a retryable failure. */
export declare class RetryableError extends Error {
  constructor(message?: string, options?: { cause?: unknown });
  readonly retryable: true;
}

/** The handler could not be loaded. */
export declare class HandlerLoadError extends Error {
  constructor(message: string, options?: { path?: string | null; details?: string | null; cause?: unknown });
  /** The handler file or directory, when known. */
  path: string | null;
  /** The stack of the underlying error, when there is one. */
  details: string | null;
}

// ------------------------------------------------------------------ records

/** A validated hint. */
export type Boundary =
  | { kind: "PATTERN"; pattern: Uint8Array; offset: null }
  | { kind: "OFFSET"; pattern: null; offset: number };

/** Validate a hint: TypeError for a wrong shape, RangeError for an empty pattern or a bad offset. */
export declare function normalizeHint(hint: RecordParseHintLike, which?: "start" | "end" | string): Boundary;

/** Cut bytes into records; yields [offset, record copy]. Hints are validated on call. */
export declare function iterRecords(
  bytes: Uint8Array | ArrayBuffer | ArrayBufferView,
  startHint: RecordParseHintLike,
  endHint: RecordParseHintLike,
): Generator<[number, Uint8Array], void, undefined>;

/** Index of the first `needle` in `hay` at or after `from`, or -1. */
export declare function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from?: number): number;

// ------------------------------------------------------------------ text

/** UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD, as with TextEncoder). */
export declare function utf8Encode(text: string): Uint8Array;

/**
 * Decode UTF-8 like `new TextDecoder("utf-8", { ignoreBOM: true })` (a BOM is
 * kept, invalid sequences become U+FFFD); `fatal: true` throws a TypeError on
 * invalid input instead.
 */
export declare function utf8Decode(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: { fatal?: boolean }): string;

// ------------------------------------------------------------------ discovery

/** A class (constructor taking no arguments). */
export type HandlerClass = new () => object;

/**
 * Interface name -> handler class for a module namespace: named exports called
 * like an interface (else the properties of a default export object), plus
 * exported classes that extend the SDK base classes. Throws HandlerLoadError on
 * ambiguity or a non-class exported under an interface name.
 */
export declare function findHandlers(moduleNamespace: object, source?: string): Map<InterfaceName, HandlerClass>;

/** The interface a class inherits from an SDK base class, or null. */
export declare function inheritedInterface(cls: unknown): InterfaceName | null;

/** The SDK version. */
export declare const VERSION: string;
