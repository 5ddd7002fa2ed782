/**
 * Cutting bytes into records from a start hint and an end hint.
 *
 * These are the rules the ferry task host applies to the hints returned by
 * `SingleFileParser.getRecordStartPattern` / `getRecordEndPattern` (the same
 * as the Python SDK's `ferry.records`). Starting with the cursor `c` at 0:
 *
 * - start PATTERN `p`: the record starts at the first occurrence of `p` at or
 *   after `c`; the bytes before it are skipped. No occurrence: done.
 * - start OFFSET `k`: the record starts at `c + k`; done if that is at or
 *   after the end of the bytes.
 * - end PATTERN `q`: the record ends right after the first occurrence of `q`
 *   that begins at or after `start + len(p)` (or at or after `start` when the
 *   start is an OFFSET); `q` is part of the record. If there is no such
 *   occurrence, the rest of the bytes is the final record (when non-empty).
 * - end OFFSET `n`: the record is the `n` bytes from its start (a shorter final
 *   record is returned as is).
 * - The cursor moves to the end of the record.
 *
 * Patterns are strings matched as their UTF-8 bytes (a Uint8Array is taken as
 * is). Patterns must be non-empty, a start offset must be >= 0 and an end
 * offset > 0 (anything else would not make progress); violations throw
 * (TypeError for a hint of the wrong shape, RangeError for an empty pattern or
 * an offset out of range) before anything is cut.
 *
 * Unlike the Python SDK, which reads a stream in chunks, this works on bytes
 * held in memory. Engine-neutral: no Node APIs, no TextEncoder.
 */

import { utf8Encode } from "./text.js";

function hintField(hint, name) {
  if (hint instanceof Map) return hint.get(name);
  return hint[name];
}

function describe(value) {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch (_) {
    // fall through
  }
  return String(value);
}

function kindOf(raw) {
  let kind = raw;
  // An enum-like object of another library: use its string value or name.
  if (kind !== null && typeof kind === "object") {
    kind = typeof kind.value === "string" ? kind.value : kind.name;
  }
  return typeof kind === "string" ? kind.toUpperCase() : kind;
}

/**
 * Turn a RecordParseHint-like value into a normalized boundary
 * `{kind: "PATTERN", pattern: Uint8Array, offset: null}` or
 * `{kind: "OFFSET", pattern: null, offset: number}`.
 *
 * Accepts a ferry RecordParseHint, any object with `recordHintType`, `pattern`
 * and `offset` properties (e.g. a LetsData project's own class; the type is
 * matched case-insensitively), or a Map with those keys. `which`
 * ("start"/"end") is used in error messages and decides the offset bound.
 */
export function normalizeHint(hint, which = "record") {
  if (hint === null || hint === undefined || typeof hint !== "object") {
    throw new TypeError(`${which} hint is ${hint === null ? "null" : typeof hint}; expected a RecordParseHint`);
  }
  const kind = kindOf(hintField(hint, "recordHintType"));
  if (kind === "PATTERN") {
    const pattern = hintField(hint, "pattern");
    let bytes;
    if (typeof pattern === "string") {
      bytes = utf8Encode(pattern);
    } else if (pattern instanceof Uint8Array) {
      bytes = pattern.slice();
    } else if (ArrayBuffer.isView(pattern)) {
      bytes = new Uint8Array(pattern.buffer, pattern.byteOffset, pattern.byteLength).slice();
    } else if (pattern instanceof ArrayBuffer) {
      bytes = new Uint8Array(pattern.slice(0));
    } else {
      throw new TypeError(`${which} hint is a PATTERN hint without a pattern string: ${describe(hint)}`);
    }
    if (bytes.length === 0) throw new RangeError(`${which} hint has an empty pattern`);
    return { kind: "PATTERN", pattern: bytes, offset: null };
  }
  if (kind === "OFFSET") {
    const offset = hintField(hint, "offset");
    if (typeof offset !== "number" || !Number.isInteger(offset)) {
      throw new TypeError(`${which} hint is an OFFSET hint without an integer offset: ${describe(hint)}`);
    }
    if (which === "end" && offset <= 0) throw new RangeError(`end OFFSET hint must be > 0, got ${offset}`);
    if (offset < 0) throw new RangeError(`${which} OFFSET hint must be >= 0, got ${offset}`);
    return { kind: "OFFSET", pattern: null, offset };
  }
  throw new TypeError(
    `${which} hint has an unknown recordHintType ${describe(kind)} (expected PATTERN or OFFSET)`,
  );
}

/** Index of the first `needle` in `hay` at or after `from`, or -1. */
export function indexOfBytes(hay, needle, from = 0) {
  const m = needle.length;
  const last = hay.length - m;
  if (from < 0) from = 0;
  if (m === 0) return from <= hay.length ? from : -1;
  const first = needle[0];
  if (m === 1) return from > last ? -1 : hay.indexOf(first, from);
  let i = from;
  while (i <= last) {
    i = hay.indexOf(first, i);
    if (i < 0 || i > last) return -1;
    let k = 1;
    while (k < m && hay[i + k] === needle[k]) k++;
    if (k === m) return i;
    i++;
  }
  return -1;
}

function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new TypeError(`expected a Uint8Array, got ${bytes === null ? "null" : typeof bytes}`);
}

/**
 * Cut `bytes` into records; yields `[offset, record]` where `offset` is the
 * byte offset of the record in `bytes` and `record` a new Uint8Array (a copy,
 * so its `buffer` holds the record alone).
 *
 * The hints are RecordParseHint-like (see {@link normalizeHint}); they are
 * validated when this function is called, before the first record is cut.
 * The cutting rules are described at the top of this module.
 */
export function iterRecords(bytes, startHint, endHint) {
  const data = toBytes(bytes);
  const start = normalizeHint(startHint, "start");
  const end = normalizeHint(endHint, "end");
  return cut(data, start, end);
}

function* cut(data, start, end) {
  const n = data.length;
  const startPattern = start.pattern;
  const endPattern = end.pattern;
  let cursor = 0;
  for (;;) {
    let rstart;
    let searchFrom;
    if (startPattern !== null) {
      rstart = indexOfBytes(data, startPattern, cursor);
      if (rstart < 0) return;
      searchFrom = rstart + startPattern.length;
    } else {
      rstart = cursor + start.offset;
      if (rstart >= n) return;
      searchFrom = rstart;
    }
    let rend;
    if (endPattern !== null) {
      const j = indexOfBytes(data, endPattern, searchFrom);
      if (j < 0) {
        if (n > rstart) yield [rstart, data.slice(rstart, n)];
        return;
      }
      rend = j + endPattern.length;
    } else {
      rend = Math.min(rstart + end.offset, n);
    }
    yield [rstart, data.slice(rstart, rend)];
    cursor = rend;
  }
}
