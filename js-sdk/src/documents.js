/**
 * The document model handlers return: {@link Document}, {@link ErrorDoc}, {@link SkipDoc}.
 *
 * Contract (shared with the LetsData JavaScript interfaces and read by the ferry bridge):
 *
 * - The instance properties have exactly these names, and the bridge reads them
 *   by name: `documentType, documentId, recordType, partitionKey,
 *   documentMetadata, documentKeyValuesMap` on every document, plus
 *   `errorStartoffsetMap, errorEndoffsetMap, errorMessage` on an ErrorDoc and
 *   `errorStartoffsetMap, errorEndoffsetMap, skipMessage` on a SkipDoc (note
 *   the lowercase "o" in `errorStartoffsetMap`; the getters spell it
 *   `getErrorStartOffsetMap`).
 * - A Document goes to the write destination, an ErrorDoc to the error
 *   destination, a SkipDoc nowhere (the record is only checkpointed).
 * - Documents are written as *flat JSON* (see {@link flatJson}), never as the
 *   nested property structure. `JSON.stringify(doc)` still gives the nested
 *   structure, which is the LetsData wire form of a returned document.
 *
 * Instances of the SDK classes themselves are not extensible (like the
 * `__slots__` classes of the Python SDK): assigning a misspelt property
 * throws in strict code. (Not sealed: sealing costs every record a
 * redefinition of each property.) Subclasses stay extensible, so they may
 * add properties.
 *
 * This module runs in any ES2020 engine (the bridge embeds QuickJS): no Node
 * APIs, no TextEncoder.
 */

/** Kind of a document; the value equals the name. */
export const DocumentType = Object.freeze({
  Document: "Document",
  ErrorDoc: "ErrorDoc",
  SkipDoc: "SkipDoc",
});

/**
 * The keys written first in flat JSON. Entries of `documentKeyValuesMap` with
 * one of these names are ignored by the serializer.
 */
export const RESERVED_KEYS = Object.freeze(["documentId", "recordType", "partitionKey", "documentMetadata"]);
const RESERVED = new Set(RESERVED_KEYS);

/**
 * A document produced by a handler.
 *
 * All arguments are optional; `documentType` defaults to
 * `DocumentType.Document`, the others to `null` (an explicit value, `null`
 * included, is stored as given).
 *
 * - `documentId` / `recordType` / `partitionKey`: strings (`null` is written as
 *   JSON null). `partitionKey` is the partition key of the write destination
 *   (e.g. Kinesis).
 * - `documentMetadata`: a JSON-serializable object (`null` is written as `{}`).
 * - `documentKeyValuesMap`: the document body, an object (or a `Map`) with
 *   string keys and JSON-serializable values; its entries become top-level keys
 *   of the flat JSON.
 */
export class Document {
  constructor(
    documentType = DocumentType.Document,
    documentId = null,
    recordType = null,
    partitionKey = null,
    documentMetadata = null,
    documentKeyValuesMap = null,
  ) {
    this.documentType = documentType;
    this.documentId = documentId;
    this.recordType = recordType;
    this.partitionKey = partitionKey;
    this.documentMetadata = documentMetadata;
    this.documentKeyValuesMap = documentKeyValuesMap;
    if (new.target === Document) Object.preventExtensions(this);
  }

  /**
   * Build a Document from named fields (JavaScript has no keyword arguments):
   * `Document.of({ documentId: "a", documentKeyValuesMap: { ... } })`.
   */
  static of(fields = {}) {
    const f = fields ?? {};
    return new Document(
      f.documentType,
      f.documentId,
      f.recordType,
      f.partitionKey,
      f.documentMetadata,
      f.documentKeyValuesMap,
    );
  }

  /** The DocumentType of this document. */
  getDocumentType() {
    return this.documentType;
  }

  getDocumentId() {
    return this.documentId;
  }

  getRecordType() {
    return this.recordType;
  }

  getPartitionKey() {
    return this.partitionKey;
  }

  getDocumentMetadata() {
    return this.documentMetadata;
  }

  getDocumentKeyValuesMap() {
    return this.documentKeyValuesMap;
  }

  /** The flat JSON string of this document (see {@link flatJson}). */
  serialize() {
    return flatJson(this);
  }
}

/**
 * Shared by {@link ErrorDoc} and {@link SkipDoc}: a document that says where
 * its record starts and ends. `errorStartoffsetMap` / `errorEndoffsetMap` map
 * a file type (or other source identifier) to the offset, as a string, where
 * the record starts / ends.
 */
class PositionedDoc extends Document {
  constructor(documentType, fields) {
    const [documentId, recordType, partitionKey, documentMetadata, documentKeyValuesMap, start, end] = fields;
    super(documentType, documentId ?? null, recordType ?? null, partitionKey ?? null, documentMetadata ?? null,
      documentKeyValuesMap ?? null);
    this.errorStartoffsetMap = start ?? null;
    this.errorEndoffsetMap = end ?? null;
  }

  /** The positional arguments of a constructor, from named fields. */
  static positional(fields, messageKey) {
    const f = fields ?? {};
    return [
      f.documentId,
      f.recordType,
      f.partitionKey,
      f.documentMetadata,
      f.documentKeyValuesMap,
      f.errorStartoffsetMap,
      f.errorEndoffsetMap,
      f[messageKey],
    ];
  }

  getErrorStartOffsetMap() {
    return this.errorStartoffsetMap;
  }

  getErrorEndOffsetMap() {
    return this.errorEndoffsetMap;
  }
}

/**
 * A record that could not be processed; routed to the error destination.
 * `documentType` is always `DocumentType.ErrorDoc`.
 */
export class ErrorDoc extends PositionedDoc {
  constructor(
    documentId = null,
    recordType = null,
    partitionKey = null,
    documentMetadata = null,
    documentKeyValuesMap = null,
    errorStartoffsetMap = null,
    errorEndoffsetMap = null,
    errorMessage = null,
  ) {
    super(DocumentType.ErrorDoc, [documentId, recordType, partitionKey, documentMetadata, documentKeyValuesMap,
      errorStartoffsetMap, errorEndoffsetMap]);
    this.errorMessage = errorMessage;
    if (new.target === ErrorDoc) Object.preventExtensions(this);
  }

  /** Build an ErrorDoc from named fields (`documentType` is ignored). */
  static of(fields = {}) {
    return new ErrorDoc(...PositionedDoc.positional(fields, "errorMessage"));
  }

  getErrorMessage() {
    return this.errorMessage;
  }
}

/**
 * A record that is intentionally not written anywhere (only checkpointed).
 *
 * Same fields as {@link ErrorDoc} with `skipMessage` instead of
 * `errorMessage`. `documentType` is always `DocumentType.SkipDoc`.
 */
export class SkipDoc extends PositionedDoc {
  constructor(
    documentId = null,
    recordType = null,
    partitionKey = null,
    documentMetadata = null,
    documentKeyValuesMap = null,
    errorStartoffsetMap = null,
    errorEndoffsetMap = null,
    skipMessage = null,
  ) {
    super(DocumentType.SkipDoc, [documentId, recordType, partitionKey, documentMetadata, documentKeyValuesMap,
      errorStartoffsetMap, errorEndoffsetMap]);
    this.skipMessage = skipMessage;
    if (new.target === SkipDoc) Object.preventExtensions(this);
  }

  /** Build a SkipDoc from named fields (`documentType` is ignored). */
  static of(fields = {}) {
    return new SkipDoc(...PositionedDoc.positional(fields, "skipMessage"));
  }

  getSkipMessage() {
    return this.skipMessage;
  }
}

// ------------------------------------------------------------------ flat JSON

function typeName(value) {
  if (value === null) return "null";
  if (typeof value !== "object" && typeof value !== "function") return typeof value;
  const ctor = value.constructor;
  return (ctor && typeof ctor.name === "string" && ctor.name) || "object";
}

/**
 * JSON.stringify replacer that rejects what JSON cannot represent faithfully
 * instead of silently dropping or mangling it (the Python SDK raises
 * TypeError/ValueError for the same inputs).
 */
function strictReplacer(key, value) {
  switch (typeof value) {
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`Out of range float values are not JSON compliant: ${value}`);
      }
      return value;
    case "bigint":
    case "function":
    case "symbol":
      throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
    case "object": {
      if (value === null) return value;
      // `this[key]` is the value before toJSON (e.g. a Node Buffer, which has one).
      const raw = this[key];
      if (isBinary(raw) || isBinary(value) || value instanceof Map || value instanceof Set) {
        throw new TypeError(`Object of type ${typeName(isBinary(raw) ? raw : value)} is not JSON serializable`);
      }
      return value;
    }
    default:
      return value;
  }
}

function isBinary(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
  );
}

/** JSON text of `value`, or `undefined` when JSON would omit it (undefined). */
function encode(value) {
  return JSON.stringify(value, strictReplacer);
}

function entriesOf(values) {
  if (values instanceof Map) {
    const out = [];
    for (const [key, value] of values) {
      if (typeof key === "string") out.push([key, value]);
      else if (typeof key === "number" || typeof key === "boolean") out.push([String(key), value]);
      else throw new TypeError(`documentKeyValuesMap keys must be strings, not ${typeName(key)}`);
    }
    return out;
  }
  if (typeof values !== "object" || Array.isArray(values) || isBinary(values)) {
    throw new TypeError(`documentKeyValuesMap must be an object or a Map, not ${typeName(values)}`);
  }
  return Object.entries(values);
}

/**
 * Serialize `document` (any object with the document properties) to one flat
 * JSON object: the format ferry writes.
 *
 * Key order: `documentId`, `recordType`, `partitionKey` (each `null` when
 * null/undefined), `documentMetadata` (`{}` when null/undefined), then every
 * entry of `documentKeyValuesMap` (an object, in `Object.entries` order, or a
 * `Map`, in insertion order) except entries whose key is one of those four
 * names (they are ignored) and entries whose value is `undefined` (omitted, as
 * JSON.stringify omits them). `documentType` and the error/skip fields are not
 * part of the flat form. The encoding is compact `JSON.stringify`.
 *
 * Throws TypeError when a value is not JSON-serializable: bigint, function,
 * symbol, NaN/Infinity, typed arrays / ArrayBuffer / Buffer, Map, Set.
 */
export function flatJson(document) {
  if (document === null || typeof document !== "object") {
    throw new TypeError(`expected a document object, got ${typeName(document)}`);
  }
  const metadata = document.documentMetadata;
  let out =
    '{"documentId":' +
    (encode(document.documentId) ?? "null") +
    ',"recordType":' +
    (encode(document.recordType) ?? "null") +
    ',"partitionKey":' +
    (encode(document.partitionKey) ?? "null") +
    ',"documentMetadata":' +
    (metadata === null || metadata === undefined ? "{}" : encode(metadata) ?? "{}");
  const values = document.documentKeyValuesMap;
  if (values !== null && values !== undefined) {
    for (const [key, value] of entriesOf(values)) {
      if (RESERVED.has(key)) continue;
      const text = encode(value);
      if (text === undefined) continue;
      out += "," + JSON.stringify(key) + ":" + text;
    }
  }
  return out + "}";
}
