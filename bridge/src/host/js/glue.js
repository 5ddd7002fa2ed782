// The JavaScript half of the bridge's JS host: finds the handler classes in
// the user's modules, creates one instance of each, calls their methods and
// turns what they return (or throw) into outcome rows that the Rust half
// reads (outcome.rs). A row is an array whose first element is its kind:
//
//   [TEXT, text]
//   [HINT, hintType, pattern | null, offset]
//   [PARSED, status, nextRecordType | null, 0]                (no document)
//   [PARSED, status, nextRecordType | null, documentType, message,
//    startOffsets, endOffsets, documentId, recordType, partitionKey,
//    documentMetadata, documentKeyValuesMap, document]
//   [DOCUMENT, 0, null, documentType, ...as PARSED]
//   [ELEMENTS, [name, text, name, text, ...]]
//   [ERROR, errorType, message, traceback, retryable]
//
// (offsets: [key, value, key, value, ...]). Enum values are those of
// ferry.bridge.v1. Arrays, not objects: QuickJS builds them and Rust reads
// them by index at a fraction of the cost.
//
// Results are read by property name, like the CPython host reads Python
// results, so the SDK's classes, a LetsData project's own classes and plain
// objects all work; statuses and document types are matched without regard
// to case. A malformed result is an "InvalidHandlerResult" error of its
// record, never a failure of the batch.
//
// A document row carries the document's own field values: Rust writes its
// flat JSON from them (json.rs), by the rules of the SDK's flatJson, and
// calls `serializeDocument` below for the few documents it leaves to
// flatJson itself.
//
// No function exported here throws: failures come back as data. Only an
// interruption by the call watchdog unwinds through (it cannot be caught).

import "./globals.js";
import { INTERFACE_NAMES, findHandlers, flatJson } from "ferry";

/** Values of ferry.bridge.v1's enums, as the Rust half expects them. */
const ParseStatus = Object.freeze({ SUCCESS: 1, ERROR: 2, SKIP: 3 });
/** By lowercase name, and by the usual spelling to spare lowercasing it. */
const DocumentType = Object.freeze({
  document: 1,
  errordoc: 2,
  skipdoc: 3,
  Document: 1,
  ErrorDoc: 2,
  SkipDoc: 3,
});
const HintType = Object.freeze({ PATTERN: 1, OFFSET: 2 });
/** The kinds of outcome rows; all but ERROR are also what `prepare` is told a function returns. */
const Kind = Object.freeze({ TEXT: 1, HINT: 2, PARSED: 3, ERROR: 4, ELEMENTS: 5, DOCUMENT: 6 });

const INVALID_RESULT = "InvalidHandlerResult";

/** What json.rs takes for plain objects and arrays: the realm's own prototypes. */
export const objectPrototype = Object.prototype;
export const arrayPrototype = Array.prototype;
const GLUE_URL = import.meta.url;

// ------------------------------------------------------------------ loading

/** Interface name -> the distinct classes found for it, over all modules. */
const found = new Map();
/** Interface name -> the instance serving it. */
const instances = new Map();

function loadFailure(message, err) {
  return { ok: false, message, details: stackOf(err) };
}

/**
 * Collects the handler classes of one imported module (see the SDK's
 * findHandlers for the rules). `file` names the module in messages.
 */
export function addModule(namespace, file) {
  let classes;
  try {
    classes = findHandlers(namespace, file);
  } catch (err) {
    return loadFailure(errorMessage(err), err);
  }
  for (const [name, cls] of classes) {
    const list = found.get(name) ?? [];
    if (!list.includes(cls)) list.push(cls);
    found.set(name, list);
  }
  return { ok: true };
}

/**
 * Creates one instance per handler class (a class serving several
 * interfaces is created once) and returns the interfaces served. `source`
 * is the handler file or project directory, for messages.
 */
export function instantiate(source) {
  const chosen = new Map();
  for (const name of INTERFACE_NAMES) {
    const list = found.get(name);
    if (!list) continue;
    // A class found in two modules of a project, or derived from another
    // found one: the most derived class wins.
    const derives = (other, cls) => other !== cls && Object.prototype.isPrototypeOf.call(cls, other);
    const leaves = list.filter((cls) => !list.some((other) => derives(other, cls)));
    if (leaves.length > 1) {
      const listed = leaves.map((cls) => cls.name || "<anonymous class>").join(" and ");
      return loadFailure(`${source} defines more than one ${name} class: ${listed}; keep exactly one`, null);
    }
    chosen.set(name, leaves[0]);
  }
  if (chosen.size === 0) {
    const names = INTERFACE_NAMES.map((name) => "ferry." + name).join(", ");
    return loadFailure(
      `${source} defines no handler class: export a class that extends one of ${names}, ` +
        `or a class named like one of them`,
      null,
    );
  }
  const created = new Map();
  for (const [name, cls] of chosen) {
    if (!created.has(cls)) {
      try {
        created.set(cls, new cls());
      } catch (err) {
        return loadFailure(
          `cannot instantiate handler class ${cls.name || "<anonymous class>"} from ${source}: ${describe(err)}`,
          err,
        );
      }
    }
    instances.set(name, created.get(cls));
  }
  reportUnhandledRejections();
  return { ok: true, interfaces: [...instances.keys()] };
}

/**
 * Once the handler serves calls, a promise it rejects and never handles
 * must not fail whichever record happens to run next: it is reported on
 * stderr instead. (While loading, such a rejection is how a module's
 * top-level throw surfaces, so it must stay fatal until then.)
 */
function reportUnhandledRejections() {
  globalThis.Deno.core.setUnhandledPromiseRejectionHandler((_promise, reason) => {
    console.error("ferry-bridge: a promise of the handler was rejected and never handled:", reason);
    return true;
  });
}

// ------------------------------------------------------------------ calls

/**
 * A function that calls `method` of the instance serving `interfaceName`
 * with its `arity` arguments and returns the outcome row, or a Promise of
 * it when the method returns one. Null when no instance has that method.
 */
export function prepare(interfaceName, method, kind, arity) {
  const instance = instances.get(interfaceName);
  if (instance === undefined || typeof instance[method] !== "function") return null;
  const reader = READERS[kind];
  const read = (result) => {
    try {
      return reader.read(result);
    } catch (err) {
      if (err instanceof Invalid) return invalid(`${method} returned ${reader.invalid}${err.message}`);
      return unserializable(method, reader.unserializable, err);
    }
  };
  const settle = (result) =>
    result !== null && typeof result === "object" && typeof result.then === "function"
      ? Promise.resolve(result).then(read, thrown)
      : read(result);
  // One caller per arity: the method sees exactly its arguments.
  switch (arity) {
    case 0:
      return () => {
        try {
          return settle(instance[method]());
        } catch (err) {
          return thrown(err);
        }
      };
    case 1:
      return (a) => {
        try {
          return settle(instance[method](a));
        } catch (err) {
          return thrown(err);
        }
      };
    case 2:
      return (a, b) => {
        try {
          return settle(instance[method](a, b));
        } catch (err) {
          return thrown(err);
        }
      };
    case 6:
      return (a, b, c, d, e, f) => {
        try {
          return settle(instance[method](a, b, c, d, e, f));
        } catch (err) {
          return thrown(err);
        }
      };
    default:
      return (...args) => {
        try {
          return settle(instance[method](...args));
        } catch (err) {
          return thrown(err);
        }
      };
  }
}

/** Why a result does not have the expected shape. */
class Invalid extends Error {}

function invalid(message) {
  return userError(INVALID_RESULT, message, "", false);
}

function userError(errorType, message, traceback, retryable) {
  return [Kind.ERROR, errorType, message, traceback, retryable];
}

/** The ERROR row of a result of `method`, described as `what`, that reading it threw `err`. */
function unserializable(method, what, err) {
  return userError(errorTypeName(err), `${method} returned ${what} that cannot be serialized: ${errorMessage(err)}`, "", false);
}

function thrown(err) {
  const retryable = err !== null && typeof err === "object" && err.retryable === true;
  return userError(errorTypeName(err), errorMessage(err), stackOf(err), retryable);
}

function readText(result) {
  if (typeof result !== "string") throw new Invalid(`${typeName(result)}; expected a string`);
  return [Kind.TEXT, result];
}

function readHint(result) {
  const kind = upperCase(enumText(required(result, "recordHintType")));
  if (kind === "PATTERN") {
    const pattern = required(result, "pattern");
    if (typeof pattern !== "string") throw new Invalid("pattern must be a string");
    if (pattern.length === 0) throw new Invalid("pattern is empty");
    return [Kind.HINT, HintType.PATTERN, pattern, 0];
  }
  if (kind === "OFFSET") {
    const offset = required(result, "offset");
    if (!Number.isSafeInteger(offset)) throw new Invalid("offset must be an integer");
    return [Kind.HINT, HintType.OFFSET, null, offset];
  }
  throw new Invalid(`recordHintType is ${JSON.stringify(kind)}; expected PATTERN or OFFSET`);
}

function readParseResult(result) {
  if (result === null || result === undefined) throw new Invalid(`got ${result}`);
  const statusName = upperCase(enumText(required(result, "status")));
  const status = own(ParseStatus, statusName);
  if (status === undefined) {
    throw new Invalid(`status is ${JSON.stringify(statusName)}; expected SUCCESS, ERROR or SKIP`);
  }
  const next = result.nextRecordType;
  const nextRecordType = next === null || next === undefined ? null : enumText(next);
  const document = result.document;
  if (document === null || document === undefined) {
    if (status === ParseStatus.SUCCESS) throw new Invalid("status is SUCCESS but there is no document");
    return [Kind.PARSED, status, nextRecordType, 0];
  }
  return documentRow(Kind.PARSED, status, nextRecordType, document);
}

/** What constructVectorDoc returns: a document of any type. */
function readDocument(result) {
  if (result === null || result === undefined) throw new Invalid(`got ${result}`);
  if (typeof result !== "object" || !("documentId" in result)) {
    throw new Invalid(`got ${typeName(result)}, which has no documentId`);
  }
  return documentRow(Kind.DOCUMENT, 0, null, result);
}

/** The row of a document, with the field values Rust writes its flat JSON from. */
function documentRow(kind, status, nextRecordType, document) {
  let documentType = DocumentType.document;
  const typeField = document.documentType;
  if (typeField !== null && typeField !== undefined) {
    const name = enumText(typeField);
    documentType = own(DocumentType, name) ?? own(DocumentType, name.toLowerCase());
    if (documentType === undefined) {
      const shown = JSON.stringify(name.toLowerCase());
      throw new Invalid(`documentType is ${shown}; expected Document, ErrorDoc or SkipDoc`);
    }
  }
  let message, startOffsets, endOffsets;
  try {
    const text =
      documentType === DocumentType.errordoc
        ? document.errorMessage
        : documentType === DocumentType.skipdoc
          ? document.skipMessage
          : null;
    message = text === null || text === undefined ? "" : enumText(text);
    startOffsets = offsets(document.errorStartoffsetMap, "errorStartoffsetMap");
    endOffsets = offsets(document.errorEndoffsetMap, "errorEndoffsetMap");
  } catch (err) {
    // The document is serialized before these fields are checked: a
    // document that cannot be serialized reports that first.
    serializedFields(document);
    throw err;
  }
  return [
    kind,
    status,
    nextRecordType,
    documentType,
    message,
    startOffsets,
    endOffsets,
    document.documentId,
    document.recordType,
    document.partitionKey,
    document.documentMetadata,
    document.documentKeyValuesMap,
    document,
  ];
}

/** What extractDocumentElementsForVectorization returns: element name -> text to embed. */
function readElements(result) {
  let entries;
  if (result instanceof Map) entries = [...result];
  else if (result !== null && typeof result === "object" && !Array.isArray(result)) entries = Object.entries(result);
  else throw new Invalid(`got ${typeName(result)}; expected an object of element names to texts`);
  const pairs = [];
  for (const [name, text] of entries) {
    if (typeof name !== "string") throw new Invalid(`an element name is ${typeName(name)}, not a string`);
    if (typeof text !== "string") throw new Invalid(`the value of ${JSON.stringify(name)} is not a string`);
    pairs.push(name, text);
  }
  return [Kind.ELEMENTS, pairs];
}

/**
 * The flat JSON of a document and the protocol's texts of its documentId,
 * recordType and partitionKey, all made here by the SDK: for the documents
 * Rust does not serialize itself (see json.rs). Throws what flatJson throws.
 */
function serializedFields(document) {
  const documentId = textOrEmpty(document.documentId);
  const recordType = textOrEmpty(document.recordType);
  const partitionKey = textOrEmpty(document.partitionKey);
  return [flatJson(document), documentId, recordType, partitionKey];
}

/**
 * serializedFields for Rust: `[flatJson, documentId, recordType,
 * partitionKey]`, or the ERROR row of a document `method` returned that
 * cannot be serialized.
 */
export function serializeDocument(document, method) {
  try {
    return serializedFields(document);
  } catch (err) {
    return unserializable(method, "a document", err);
  }
}

/** How each kind of result is read, and what its error messages call it. */
const READERS = {
  [Kind.TEXT]: { read: readText, invalid: "", unserializable: "a value" },
  [Kind.HINT]: { read: readHint, invalid: "an invalid RecordParseHint: ", unserializable: "a RecordParseHint" },
  [Kind.PARSED]: {
    read: readParseResult,
    invalid: "an invalid ParseDocumentResult: ",
    unserializable: "a document",
  },
  [Kind.DOCUMENT]: { read: readDocument, invalid: "an invalid Document: ", unserializable: "a document" },
  [Kind.ELEMENTS]: { read: readElements, invalid: "an invalid element map: ", unserializable: "an element map" },
};

const EMPTY = Object.freeze([]);

/**
 * An offset map of an ErrorDoc or SkipDoc as [key, value, ...]; values
 * become strings, as the Java contract types them.
 */
function offsets(map, name) {
  if (map === null || map === undefined) return EMPTY;
  let entries;
  if (map instanceof Map) entries = [...map];
  else if (typeof map === "object" && !Array.isArray(map)) entries = Object.entries(map);
  else throw new Invalid(`${name} must be an object or a Map`);
  const out = [];
  for (const [key, value] of entries) out.push(String(key), String(value));
  return out;
}

/** The text of a string field; other values are rendered as JSON, so a numeric id still reaches the sinks. */
function textOrEmpty(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? "";
}

/** A string, or the string `value` (else `name`) of an enum-like object. */
function enumText(value) {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object") {
    if (typeof value.value === "string") return value.value;
    if (typeof value.name === "string") return value.name;
  }
  throw new Invalid(`${typeName(value)} is not a string or enum member`);
}

/** `table[key]` if `table` has that key itself (not, say, "constructor"). */
function own(table, key) {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** `text` in upper case; most handlers already spell it so. */
function upperCase(text) {
  return text === "SUCCESS" || text === "ERROR" || text === "SKIP" || text === "PATTERN" || text === "OFFSET"
    ? text
    : text.toUpperCase();
}

function required(object, name) {
  if (object === null || typeof object !== "object" || !(name in object)) {
    throw new Invalid(`${typeName(object)} has no property ${name}`);
  }
  return object[name];
}

// ------------------------------------------------------------------ errors as data

function typeName(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const ctor = value.constructor;
  return (typeof ctor === "function" && ctor.name) || "Object";
}

/** The class name of a thrown value, as the SDK's harness reports it. */
function errorTypeName(err) {
  if (err !== null && typeof err === "object") {
    const ctor = err.constructor;
    const ctorName = typeof ctor === "function" && typeof ctor.name === "string" ? ctor.name : "";
    if (ctorName && ctorName !== "Error" && ctorName !== "Object") return ctorName;
    if (typeof err.name === "string" && err.name) return err.name;
    return ctorName || "Error";
  }
  return err === null ? "null" : typeof err;
}

function errorMessage(err) {
  try {
    if (err !== null && typeof err === "object" && "message" in err) return String(err.message);
    return String(err);
  } catch (_) {
    return "<unprintable>";
  }
}

function describe(err) {
  return `${errorTypeName(err)}: ${errorMessage(err)}`;
}

/** The stack of a thrown Error without the frames of this module; "" for other values. */
function stackOf(err) {
  if (err === null || typeof err !== "object" || typeof err.stack !== "string") return "";
  return err.stack
    .split("\n")
    .filter((line) => !line.includes(GLUE_URL))
    .join("\n");
}
