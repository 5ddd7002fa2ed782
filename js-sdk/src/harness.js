#!/usr/bin/env node
/**
 * Run a handler over sample input, without the task host (Node only).
 *
 * Usage:
 *
 *     node js-sdk/src/harness.js --handler PATH [--limit N] [--documents OUT.jsonl] FILE [FILE...]
 *     node js-sdk/src/harness.js --handler PATH --function INTERFACE.METHOD [--limit N] [--documents OUT.jsonl] FILE...
 *
 * The handler is loaded with {@link loadHandler} (a `.js`/`.mjs` file, a
 * directory with `handler.js`/`handler.mjs`, or a LetsData project directory
 * containing `letsdata_interfaces/`). For every FILE the harness asks the
 * parser for its file type, its resolved file name (only printed) and its
 * record start/end hints, cuts the file (gunzipped when the name ends with
 * `.gz`) into records with `iterRecords` and calls `parseDocument(fileType,
 * FILE, offset, record, 0, record.length)` on each record, where `record` is a
 * new Uint8Array. Every handler method may return a Promise; it is awaited.
 *
 * stdout gets one JSON line per record, the same as the Python harness:
 *
 *     {"file":..,"offset":..,"status":"SUCCESS|ERROR|SKIP|EXCEPTION","document":<flat document or null>,"message":..}
 *
 * `message` is null for SUCCESS, the `errorMessage` / `skipMessage` for ERROR /
 * SKIP, and `"Type: message"` for EXCEPTION, whose line also has an
 * `"exception"` object (`type`, `message`, `retryable`, `traceback`: the
 * stack). A result the host would reject (not a ParseDocumentResult, unknown
 * status, SUCCESS without a document, a document that is not
 * JSON-serializable) is reported as EXCEPTION too. `--documents` writes the
 * SUCCESS documents as flat JSON lines. stderr gets the file names/types and a
 * final summary line `N records: X documents, Y errors, Z skipped, E exceptions`.
 *
 * With `--function INTERFACE.METHOD`, one of {@link FUNCTIONS} (e.g.
 * `QueueMessageReader.parseMessage`), every FILE holds JSON lines, each the
 * `data` object of a LetsData request to that function (the same keys: for
 * Kinesis `data` is text, passed encoded as UTF-8 bytes in a Uint8Array;
 * DynamoDB images and items sit under `data`, `{}` when missing). Each
 * non-blank line is one call, and stdout gets `{"file":..,"line":<1-based>,...}`
 * with the fields above; `extractDocumentElementsForVectorization` adds
 * `"elements"` (its object) to a SUCCESS line, and `constructVectorDoc`
 * reports its Document as SUCCESS (an ErrorDoc as ERROR, a SkipDoc as SKIP).
 * The same as the Python harness's `--function`.
 *
 * Exit status: 0 when all files were processed (whatever the records'
 * outcomes), 1 when the handler failed to load or to set up (no handler for
 * the interface, a failing or invalid getS3FileType / getRecordStartPattern /
 * getRecordEndPattern), a file could not be read or an input line is not a
 * call's `data`, 2 for bad usage.
 */

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

import { flatJson } from "./documents.js";
import { findHandlers } from "./discover.js";
import { HandlerLoadError } from "./errors.js";
import { INTERFACE_NAMES } from "./interfaces.js";
import { iterRecords, normalizeHint } from "./records.js";

const PROG = "node js-sdk/src/harness.js";
const STATUSES = new Set(["SUCCESS", "ERROR", "SKIP"]);
/** Package directory of a LetsData project. */
export const LETSDATA_PACKAGE = "letsdata_interfaces";
const HANDLER_FILES = ["handler.js", "handler.mjs"];
const SOURCE_EXTENSIONS = new Set([".js", ".mjs", ".cjs"]);

// ------------------------------------------------------------------ errors as data

/** The type name of a thrown value, like Python's `type(exc).__name__`. */
export function errorTypeName(err) {
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
  if (err !== null && typeof err === "object" && "message" in err) return String(err.message);
  try {
    return String(err);
  } catch (_) {
    return "<unprintable>";
  }
}

function errorStack(err) {
  if (err !== null && typeof err === "object" && typeof err.stack === "string") return err.stack;
  return null;
}

function describeError(err) {
  return `${errorTypeName(err)}: ${errorMessage(err)}`;
}

function exceptionOutcome(err) {
  const type = errorTypeName(err);
  const message = errorMessage(err);
  return {
    status: "EXCEPTION",
    document: null,
    message: `${type}: ${message}`,
    exception: {
      type,
      message,
      retryable: err !== null && typeof err === "object" && err.retryable === true,
      traceback: errorStack(err),
    },
  };
}

function invalidOutcome(message) {
  return {
    status: "EXCEPTION",
    document: null,
    message,
    exception: { type: "InvalidResult", message, retryable: false, traceback: null },
  };
}

function valueTypeName(value) {
  if (value === null) return "null";
  if (typeof value === "object") {
    const ctor = value.constructor;
    return (typeof ctor === "function" && ctor.name) || "Object";
  }
  return typeof value;
}

function statusName(status) {
  let s = status;
  if (s !== null && typeof s === "object") s = typeof s.value === "string" ? s.value : s.name;
  if (typeof s === "string" && STATUSES.has(s.toUpperCase())) return s.toUpperCase();
  return null;
}

function showStatus(status) {
  try {
    const text = JSON.stringify(status);
    if (text !== undefined) return text;
  } catch (_) {
    // fall through
  }
  return String(status);
}

function messageOf(value) {
  if (value === undefined || value === null) return null;
  return value;
}

/**
 * Call `parser.parseDocument` on one record (awaiting a returned Promise) and
 * classify the outcome.
 *
 * Resolves to `{status, document, message}` (plus `exception` for
 * EXCEPTION), where `status` is SUCCESS/ERROR/SKIP/EXCEPTION and `document`
 * the flat JSON *string* of the returned document, or null.
 */
export async function runRecord(parser, fileType, fileName, offset, record) {
  let result;
  try {
    result = await parser.parseDocument(fileType, fileName, offset, record, 0, record.length);
  } catch (err) {
    return exceptionOutcome(err);
  }
  return parseResultOutcome(result, "parseDocument");
}

function parseResultOutcome(result, method) {
  if (result === null || typeof result !== "object" || !("status" in result) || !("document" in result)) {
    return invalidOutcome(`${method} returned ${valueTypeName(result)}, expected a ParseDocumentResult`);
  }
  const status = statusName(result.status);
  if (status === null) {
    return invalidOutcome(`${method} returned an unknown status ${showStatus(result.status)}`);
  }
  const document = result.document;
  if (status === "SUCCESS" && (document === null || document === undefined)) {
    return invalidOutcome(`${method} returned status SUCCESS without a document`);
  }
  return documentOutcome(status, document);
}

function documentOutcome(status, document) {
  const hasDocument = document !== null && document !== undefined;
  let flat = null;
  if (hasDocument) {
    try {
      flat = flatJson(document);
    } catch (err) {
      return invalidOutcome(`document is not JSON-serializable: ${describeError(err)}`);
    }
  }
  let message = null;
  if (status === "ERROR" && hasDocument) message = messageOf(document.errorMessage);
  else if (status === "SKIP" && hasDocument) message = messageOf(document.skipMessage);
  return { status, document: flat, message };
}

function elementsOutcome(result, method) {
  if (result === null || typeof result !== "object" || Array.isArray(result)) {
    return invalidOutcome(`${method} returned ${valueTypeName(result)}, expected an object of element names to texts`);
  }
  const entries = result instanceof Map ? [...result] : Object.entries(result);
  for (const [name, text] of entries) {
    if (typeof name !== "string" || typeof text !== "string") {
      return invalidOutcome(
        `${method} returned the element ${dumps(name)}: ${dumps(text)}; names and texts must be strings`,
      );
    }
  }
  return { status: "SUCCESS", document: null, message: null, elements: Object.fromEntries(entries) };
}

function vectorDocOutcome(result, method) {
  if (result === null || typeof result !== "object" || !("documentId" in result)) {
    return invalidOutcome(`${method} returned ${valueTypeName(result)}, expected a Document`);
  }
  let kind = result.documentType;
  if (kind !== null && typeof kind === "object") kind = typeof kind.value === "string" ? kind.value : kind.name;
  const status = { errordoc: "ERROR", skipdoc: "SKIP" }[String(kind).toLowerCase()] ?? "SUCCESS";
  return documentOutcome(status, result);
}

/** A line lacks a key its function needs: the input's fault. */
class MissingKey extends Error {}

function key(data, name) {
  if (!Object.hasOwn(data, name)) throw new MissingKey(name);
  return data[name];
}

/** An optional object of a call's data; `{}` when missing or null. */
function objectOr(value) {
  return value === undefined || value === null ? {} : value;
}

function kinesisData(text) {
  if (typeof text !== "string") throw new TypeError(`data is ${valueTypeName(text)}, not text`);
  return new TextEncoder().encode(text);
}

/**
 * `--function` choice -> the interface, the method, its positional
 * arguments from one line's `data`, and how its result is classified.
 */
export const FUNCTIONS = Object.freeze({
  "QueueMessageReader.parseMessage": {
    interfaceName: "QueueMessageReader",
    method: "parseMessage",
    args: (data) => [
      key(data, "messageId"),
      data.messageGroupId ?? null,
      data.messageDeduplicationId ?? null,
      objectOr(data.messageAttributes),
      key(data, "messageBody"),
    ],
    outcome: parseResultOutcome,
  },
  "KinesisRecordReader.parseMessage": {
    interfaceName: "KinesisRecordReader",
    method: "parseMessage",
    args: (data) => [
      key(data, "streamArn"),
      key(data, "shardId"),
      key(data, "partitionKey"),
      key(data, "sequenceNumber"),
      key(data, "approximateArrivalTimestamp"),
      kinesisData(key(data, "data")),
    ],
    outcome: parseResultOutcome,
  },
  "DynamoDBStreamsRecordReader.parseRecord": {
    interfaceName: "DynamoDBStreamsRecordReader",
    method: "parseRecord",
    args: (data) => {
      const images = objectOr(data.data);
      return [
        key(data, "streamArn"),
        key(data, "shardId"),
        key(data, "eventId"),
        key(data, "eventName"),
        data.identityPrincipalId ?? null,
        data.identityType ?? null,
        key(data, "sequenceNumber"),
        key(data, "sizeBytes"),
        key(data, "streamViewType"),
        key(data, "approximateCreationDateTime"),
        objectOr(images.keys),
        objectOr(images.oldImage),
        objectOr(images.newImage),
      ];
    },
    outcome: parseResultOutcome,
  },
  "DynamoDBTableItemReader.parseDynamoDBItem": {
    interfaceName: "DynamoDBTableItemReader",
    method: "parseDynamoDBItem",
    args: (data) => {
      const images = objectOr(data.data);
      return [key(data, "tableName"), key(data, "segmentNumber"), objectOr(images.keys), objectOr(images.item)];
    },
    outcome: parseResultOutcome,
  },
  "SagemakerVectorsInterface.extractDocumentElementsForVectorization": {
    interfaceName: "SagemakerVectorsInterface",
    method: "extractDocumentElementsForVectorization",
    args: (data) => [key(data, "document")],
    outcome: elementsOutcome,
  },
  "SagemakerVectorsInterface.constructVectorDoc": {
    interfaceName: "SagemakerVectorsInterface",
    method: "constructVectorDoc",
    args: (data) => [key(data, "documentInterface"), key(data, "vectorsMap")],
    outcome: vectorDocOutcome,
  },
});

/**
 * Call `fn` (a key of {@link FUNCTIONS}) of `handler` with the arguments of
 * one LetsData `data` object (awaiting a returned Promise) and classify the
 * outcome, as {@link runRecord} does. A line that lacks a key or has a value
 * of the wrong type rejects with an {@link InputError}: the input's fault, not
 * the handler's.
 */
export async function runCall(handler, fn, data) {
  const { method, args, outcome } = FUNCTIONS[fn];
  let values;
  try {
    values = args(data);
  } catch (err) {
    if (err instanceof MissingKey) throw new InputError(`the data of ${fn} has no key '${err.message}'`);
    throw new InputError(`not the data of ${fn}: ${describeError(err)}`);
  }
  let result;
  try {
    result = await handler[method](...values);
  } catch (err) {
    return exceptionOutcome(err);
  }
  return outcome(result, method);
}

/** The input failed, not the handler: a line that is not the data of a call. */
export class InputError extends Error {}

function dumps(value) {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch (_) {
    // fall through
  }
  return JSON.stringify(String(value));
}

/**
 * The stdout line of one outcome (same keys and order as the Python harness):
 * `position` is "offset" (a record of a file) or "line" (a call of
 * `--function`).
 */
export function outcomeLine(fileName, offset, outcome, position = "offset") {
  let line =
    '{"file":' +
    JSON.stringify(fileName) +
    ',"' +
    position +
    '":' +
    String(offset) +
    ',"status":' +
    JSON.stringify(outcome.status) +
    ',"document":' +
    (outcome.document ?? "null") +
    ',"message":' +
    dumps(outcome.message);
  if ("elements" in outcome) line += ',"elements":' + dumps(outcome.elements);
  if ("exception" in outcome) line += ',"exception":' + dumps(outcome.exception);
  return line + "}";
}

// ------------------------------------------------------------------ loading

function importError(file, err) {
  let cause = describeError(err);
  let details = errorStack(err);
  const check = err instanceof SyntaxError ? syntaxCheck(file) : null;
  const at = check ? check.location : userLocation(err);
  if (at) cause += ` (at ${at})`;
  if (check) details = check.frame + (details ? "\n" + details : "");
  return new HandlerLoadError(`cannot import handler ${file}: ${cause}`, { path: file, details, cause: err });
}

/**
 * Node does not expose where an imported module's SyntaxError is: ask
 * `node --check` (which prints "file:line", the line and a caret). Null when
 * the error is not in `file` itself (e.g. in a module it imports).
 */
function syntaxCheck(file) {
  try {
    const res = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 30_000 });
    if (res.status === 0 || typeof res.stderr !== "string") return null;
    const m = /^(.+):(\d+)\n/.exec(res.stderr);
    if (!m) return null;
    const end = res.stderr.indexOf("\n\n");
    const frame = (end > 0 ? res.stderr.slice(0, end) : m[0]).trimEnd();
    return { location: `${m[1]}:${m[2]}`, frame };
  } catch (_) {
    return null;
  }
}

const SDK_DIR = path.dirname(fileURLToPath(import.meta.url)) + path.sep;

/** "file:line" of the innermost stack frame in user code (not Node internals, not this SDK). */
function userLocation(err) {
  const stack = errorStack(err);
  if (!stack) return null;
  for (const line of stack.split("\n")) {
    const m = /^\s+at (?:.*\()?((?:file:\/\/|\/|[A-Za-z]:\\)[^()]*?):(\d+):\d+\)?$/.exec(line);
    if (!m) continue;
    let file = m[1];
    if (file.startsWith("file://")) {
      try {
        file = fileURLToPath(file);
      } catch (_) {
        continue;
      }
    }
    if (file.startsWith(SDK_DIR)) continue;
    return `${file}:${m[2]}`;
  }
  return null;
}

async function importModule(file) {
  try {
    return await import(pathToFileURL(file).href);
  } catch (err) {
    throw importError(file, err);
  }
}

function instantiate(classes, source) {
  const instances = new Map();
  const byInterface = new Map();
  for (const [name, cls] of classes) {
    if (!instances.has(cls)) {
      try {
        instances.set(cls, new cls());
      } catch (err) {
        throw new HandlerLoadError(
          `cannot instantiate handler class ${cls.name || "<anonymous class>"} from ${source}: ${describeError(err)}`,
          { path: source, details: errorStack(err), cause: err },
        );
      }
    }
    byInterface.set(name, instances.get(cls));
  }
  return byInterface;
}

function noHandlerError(source) {
  return new HandlerLoadError(
    `${source} defines no handler class: export a class that extends one of ` +
      `${INTERFACE_NAMES.map((n) => "ferry." + n).join(", ")}, or a class named like one of them`,
    { path: source },
  );
}

function sourceFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && SOURCE_EXTENSIONS.has(path.extname(entry.name))) out.push(full);
    }
  };
  walk(dir);
  return out;
}

async function loadFile(given, file) {
  const ns = await importModule(file);
  const classes = findHandlers(ns, file);
  if (classes.size === 0) throw noHandlerError(file);
  return { path: given, root: path.dirname(file), kind: "file", files: [file], classes, interfaces: instantiate(classes, file) };
}

async function loadLetsData(root) {
  const files = sourceFiles(path.join(root, LETSDATA_PACKAGE));
  const found = new Map();
  for (const file of files) {
    const ns = await importModule(file);
    for (const [name, cls] of findHandlers(ns, file)) {
      const list = found.get(name) ?? [];
      if (!list.includes(cls)) list.push(cls);
      found.set(name, list);
    }
  }
  const classes = new Map();
  for (const name of INTERFACE_NAMES) {
    const list = found.get(name);
    if (!list) continue;
    const leaves = list.filter((c) => !list.some((o) => o !== c && Object.prototype.isPrototypeOf.call(c, o)));
    if (leaves.length > 1) {
      throw new HandlerLoadError(
        `${root} defines more than one ${name} class: ${leaves.map((c) => c.name).join(" and ")}; keep exactly one`,
        { path: root },
      );
    }
    classes.set(name, leaves[0]);
  }
  if (classes.size === 0) throw noHandlerError(root);
  return { path: root, root, kind: "letsdata", files, classes, interfaces: instantiate(classes, root) };
}

/**
 * Load the handler at `handlerPath`: a `.js`/`.mjs`/`.cjs` file, a directory
 * containing `letsdata_interfaces/` (a LetsData project: every module under it
 * is imported and searched), or a directory with `handler.js` / `handler.mjs`.
 *
 * Resolves to `{path, root, kind, files, classes, interfaces}` where `classes`
 * maps interface name -> class (see findHandlers) and `interfaces` interface
 * name -> the one instance serving it (a class implementing several
 * interfaces is instantiated once). Rejects with a HandlerLoadError naming
 * the file and the cause.
 */
export async function loadHandler(handlerPath) {
  const p = path.resolve(String(handlerPath));
  let stat;
  try {
    stat = fs.statSync(p);
  } catch (_) {
    throw new HandlerLoadError(`handler path ${p} does not exist`, { path: p });
  }
  const real = fs.realpathSync(p);
  if (stat.isFile()) {
    if (!SOURCE_EXTENSIONS.has(path.extname(real))) {
      throw new HandlerLoadError(
        `handler path ${p} is not a .js/.mjs/.cjs file; expected a JavaScript file, a directory with ` +
          `handler.js, or a LetsData project directory containing ${LETSDATA_PACKAGE}/`,
        { path: p },
      );
    }
    return loadFile(p, real);
  }
  if (stat.isDirectory()) {
    if (isDirectory(path.join(real, LETSDATA_PACKAGE))) return loadLetsData(real);
    for (const name of HANDLER_FILES) {
      const file = path.join(real, name);
      if (isFile(file)) return loadFile(p, file);
    }
    throw new HandlerLoadError(
      `handler directory ${p} contains neither ${HANDLER_FILES.join(" nor ")} nor a ${LETSDATA_PACKAGE}/ ` +
        `directory (LetsData project layout)`,
      { path: p },
    );
  }
  throw new HandlerLoadError(`handler path ${p} is neither a file nor a directory`, { path: p });
}

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch (_) {
    return false;
  }
}

function isDirectory(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch (_) {
    return false;
  }
}

// ------------------------------------------------------------------ command line

const USAGE =
  `usage: ${PROG} [-h] --handler PATH [--function INTERFACE.METHOD] [--limit N] [--documents OUT.jsonl] ` +
  `FILE [FILE ...]`;
const FUNCTION_NAMES = Object.keys(FUNCTIONS).sort();
const HELP = `${USAGE}

Run a ferry/LetsData handler over sample files.

positional arguments:
  FILE                  input file (gunzipped if it ends with .gz)

options:
  -h, --help            show this help message and exit
  --handler PATH        handler .js/.mjs file, directory with handler.js, or LetsData project directory
  --function INTERFACE.METHOD
                        call this function once per JSON line of each FILE instead of running a
                        SingleFileParser over the files; one of: ${FUNCTION_NAMES.join(", ")}
  --limit N             stop after N records (over all files)
  --documents OUT.jsonl
                        write the SUCCESS documents as flat JSON lines
`;

class UsageError extends Error {}

function positiveInt(text) {
  if (!/^\s*[+-]?\d+\s*$/.test(text)) throw new UsageError(`argument --limit: not an integer: '${text}'`);
  const value = Number.parseInt(text, 10);
  if (value < 1) throw new UsageError(`argument --limit: must be >= 1, got ${value}`);
  return value;
}

/** Parse the command line (argparse-like); throws UsageError, returns null for --help. */
function parseArgs(argv) {
  const args = { handler: null, function: null, limit: null, documents: null, files: [] };
  const options = { "--handler": "handler", "--function": "function", "--limit": "limit", "--documents": "documents" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      args.files.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") return null;
    if (arg.startsWith("-") && arg !== "-") {
      const eq = arg.indexOf("=");
      const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
      const key = options[flag];
      if (key === undefined) throw new UsageError(`unrecognized arguments: ${arg}`);
      let value;
      if (flag !== arg) {
        value = arg.slice(eq + 1);
      } else {
        if (i + 1 >= argv.length || (argv[i + 1].startsWith("-") && argv[i + 1] !== "-")) {
          throw new UsageError(`argument ${flag}: expected one argument`);
        }
        value = argv[++i];
      }
      if (key === "function" && !Object.hasOwn(FUNCTIONS, value)) {
        const choices = FUNCTION_NAMES.map((name) => `'${name}'`).join(", ");
        throw new UsageError(`argument --function: invalid choice: '${value}' (choose from ${choices})`);
      }
      args[key] = key === "limit" ? positiveInt(value) : value;
      continue;
    }
    args.files.push(arg);
  }
  const missing = [];
  if (args.handler === null) missing.push("--handler");
  if (args.files.length === 0) missing.push("FILE");
  if (missing.length) throw new UsageError(`the following arguments are required: ${missing.join(", ")}`);
  return args;
}

function readInput(fileName) {
  const raw = fs.readFileSync(fileName);
  const data = fileName.endsWith(".gz") ? zlib.gunzipSync(raw) : raw;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function fail(err, what, cause) {
  err.write(`ferry.harness: ${what}: ${describeError(cause)}\n`);
  const stack = errorStack(cause);
  if (stack) err.write(stack + "\n");
  return 1;
}

/**
 * Run the harness; resolves to the exit status (see the top of this module).
 * `io.stdout` / `io.stderr` are objects with a `write(text)` method (default:
 * `process.stdout` / `process.stderr`, whose writes are synchronous for files
 * and pipes on Linux).
 */
export async function main(argv = process.argv.slice(2), io = {}) {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`${USAGE}\n${PROG}: error: ${e.message}\n`);
    return 2;
  }
  if (args === null) {
    out.write(HELP);
    return 0;
  }
  const missing = args.files.filter((f) => !isFile(f));
  if (missing.length) {
    err.write(`${USAGE}\n${PROG}: error: no such file: ${missing.join(", ")}\n`);
    return 2;
  }

  let loaded;
  try {
    loaded = await loadHandler(args.handler);
  } catch (e) {
    if (!(e instanceof HandlerLoadError)) return fail(err, "cannot load handler", e);
    err.write(`ferry.harness: ${e.message}\n`);
    if (e.details) err.write(e.details.endsWith("\n") ? e.details : e.details + "\n");
    return 1;
  }
  let outcomes;
  if (args.function !== null) {
    const { interfaceName } = FUNCTIONS[args.function];
    const handler = loaded.interfaces.get(interfaceName);
    if (handler === undefined) return missingInterface(err, loaded, interfaceName);
    outcomes = callOutcomes(handler, args.function, args.files);
  } else {
    const parser = loaded.interfaces.get("SingleFileParser");
    if (parser === undefined) return missingInterface(err, loaded, "SingleFileParser");
    let fileType;
    try {
      fileType = await parser.getS3FileType();
    } catch (e) {
      return fail(err, "getS3FileType() failed", e);
    }
    let startHint;
    let endHint;
    try {
      startHint = await parser.getRecordStartPattern(fileType);
      endHint = await parser.getRecordEndPattern(fileType);
      normalizeHint(startHint, "start");
      normalizeHint(endHint, "end");
    } catch (e) {
      return fail(err, "record start/end hints", e);
    }
    outcomes = fileOutcomes(parser, fileType, [startHint, endHint], args.files, err);
  }

  const counts = { SUCCESS: 0, ERROR: 0, SKIP: 0, EXCEPTION: 0 };
  let total = 0;
  let docsFd = null;
  if (args.documents !== null) {
    try {
      docsFd = fs.openSync(args.documents, "w");
    } catch (e) {
      return fail(err, `cannot write ${args.documents}`, e);
    }
  }
  let status = 0;
  try {
    for await (const [fileName, position, index, outcome] of outcomes) {
      counts[outcome.status] += 1;
      total += 1;
      out.write(outcomeLine(fileName, index, outcome, position) + "\n");
      if (docsFd !== null && outcome.status === "SUCCESS" && outcome.document !== null) {
        fs.writeSync(docsFd, outcome.document + "\n");
      }
      if (args.limit !== null && total >= args.limit) break;
    }
  } catch (e) {
    if (!(e instanceof InputFailure)) throw e;
    status = e.cause === undefined ? failed(err, e.message) : fail(err, e.message, e.cause);
  } finally {
    if (docsFd !== null) fs.closeSync(docsFd);
  }
  err.write(
    `${total} records: ${counts.SUCCESS} documents, ${counts.ERROR} errors, ` +
      `${counts.SKIP} skipped, ${counts.EXCEPTION} exceptions\n`,
  );
  return status;
}

function missingInterface(err, loaded, interfaceName) {
  const found = [...loaded.interfaces.keys()].join(", ") || "none";
  err.write(`ferry.harness: handler ${loaded.path} has no ${interfaceName} (it implements: ${found})\n`);
  return 1;
}

function failed(err, message) {
  err.write(`ferry.harness: ${message}\n`);
  return 1;
}

/** The input failed, not the handler: a file that cannot be read, or a line that is not the data of a call. */
class InputFailure extends Error {}

/** [file, "offset", offset, outcome] of parseDocument on every record of `files`, cut with the parser's hints. */
async function* fileOutcomes(parser, fileType, [startHint, endHint], files, err) {
  for (const fileName of files) {
    let resolved;
    try {
      resolved = await parser.getResolvedS3FileName(fileType, fileName);
    } catch (e) {
      resolved = `<${describeError(e)}>`;
    }
    err.write(`${fileName}: s3FileType=${String(fileType)} resolvedS3FileName=${String(resolved)}\n`);
    const data = inputOf(fileName);
    for (const [offset, record] of iterRecords(data, startHint, endHint)) {
      yield [fileName, "offset", offset, await runRecord(parser, fileType, fileName, offset, record)];
    }
  }
}

/** [file, "line", number, outcome] of `fn` called once per non-blank JSON line of `files`. */
async function* callOutcomes(handler, fn, files) {
  for (const fileName of files) {
    const lines = new TextDecoder().decode(inputOf(fileName)).split("\n");
    for (const [index, line] of lines.entries()) {
      if (line.trim() === "") continue;
      const where = `${fileName}:${index + 1}`;
      let data;
      try {
        data = JSON.parse(line);
      } catch (e) {
        throw new InputFailure(`${where}: not JSON: ${errorMessage(e)}`);
      }
      if (data === null || typeof data !== "object" || Array.isArray(data)) {
        throw new InputFailure(`${where}: not a JSON object`);
      }
      let outcome;
      try {
        outcome = await runCall(handler, fn, data);
      } catch (e) {
        if (e instanceof InputError) throw new InputFailure(`${where}: ${e.message}`);
        throw e;
      }
      yield [fileName, "line", index + 1, outcome];
    }
  }
}

function inputOf(fileName) {
  try {
    return readInput(fileName);
  } catch (e) {
    throw new InputFailure(`cannot read ${fileName}`, { cause: e });
  }
}

function isMainModule() {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch (_) {
    return false;
  }
}

if (isMainModule()) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`ferry.harness: internal error: ${errorStack(e) ?? describeError(e)}\n`);
      process.exitCode = 1;
    },
  );
}
