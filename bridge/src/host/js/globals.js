// Web globals handlers expect and the embedded engine lacks: TextDecoder,
// TextEncoder and a console that writes where a Node handler's would
// (log/info/debug to stdout, warn/error to stderr). Evaluated by the glue
// module before any handler module.

import { utf8Decode } from "ferry";

const core = globalThis.Deno.core;
const decodeUtf8 = core.ops.op_ferry_decode_utf8;

const UTF8_LABELS = new Set(["utf-8", "utf8", "unicode-1-1-utf-8"]);

function bytesOf(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  throw new TypeError("TextDecoder.decode expects an ArrayBuffer or an ArrayBuffer view");
}

/** UTF-8 only, as WHATWG's TextDecoder; no streaming. */
class TextDecoder {
  #fatal;
  #ignoreBOM;

  // Handlers often make a decoder per record: the usual label is checked
  // without building strings, and no options object is made.
  constructor(label = "utf-8", options) {
    if (label !== "utf-8" && !UTF8_LABELS.has(String(label).trim().toLowerCase())) {
      throw new RangeError(`The encoding label provided ('${label}') is not supported: the bridge decodes UTF-8 only`);
    }
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
  }

  get encoding() {
    return "utf-8";
  }

  get fatal() {
    return this.#fatal;
  }

  get ignoreBOM() {
    return this.#ignoreBOM;
  }

  decode(input, options) {
    if (options?.stream) throw new TypeError("TextDecoder in the ferry bridge does not support streaming");
    const bytes = bytesOf(input);
    // Valid UTF-8 without a BOM decodes the same whatever the options: the
    // bridge's own op makes it fastest. Otherwise the engine's decoder
    // replaces invalid sequences and drops a BOM, the default behaviour; the
    // SDK's codec covers the other options.
    const valid = decodeUtf8(bytes);
    if (valid !== null) return valid;
    if (!this.#fatal && !this.#ignoreBOM) return core.decode(bytes);
    const text = utf8Decode(bytes, { fatal: this.#fatal });
    return !this.#ignoreBOM && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
}

class TextEncoder {
  get encoding() {
    return "utf-8";
  }

  encode(input = "") {
    return core.encode(String(input));
  }
}

function show(value) {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (value === null || typeof value !== "object") return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch (_) {
    return String(value);
  }
}

function printer(toStderr) {
  return (...args) => core.print(args.map(show).join(" ") + "\n", toStderr);
}

const console = {
  log: printer(false),
  info: printer(false),
  debug: printer(false),
  warn: printer(true),
  error: printer(true),
};

if (typeof globalThis.TextDecoder !== "function") globalThis.TextDecoder = TextDecoder;
if (typeof globalThis.TextEncoder !== "function") globalThis.TextEncoder = TextEncoder;
globalThis.console = console;
