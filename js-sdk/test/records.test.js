import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { test } from "node:test";

import { RecordHintType, RecordParseHint } from "../index.js";
import { indexOfBytes, iterRecords, normalizeHint } from "../src/records.js";

const P = (p) => RecordParseHint.ofPattern(p);
const O = (n) => RecordParseHint.ofOffset(n);
const enc = (s) => new TextEncoder().encode(s);
const bytes = (arr) => Uint8Array.from(arr);

/** Cut and return [offset, latin1 string] pairs, easy to compare. */
function cut(data, start, end) {
  const input = typeof data === "string" ? enc(data) : data;
  return [...iterRecords(input, start, end)].map(([offset, rec]) => [offset, Buffer.from(rec).toString("latin1")]);
}

function latin1(s) {
  return Buffer.from(enc(s)).toString("latin1");
}

test("JSON lines with and without a trailing newline", () => {
  assert.deepEqual(cut('{"a":1}\n{"b":2}\n{"c":3}\n', O(0), P("\n")), [
    [0, '{"a":1}\n'],
    [8, '{"b":2}\n'],
    [16, '{"c":3}\n'],
  ]);
  assert.deepEqual(cut('{"a":1}\n{"b":2}\n{"c":3}', O(0), P("\n")), [
    [0, '{"a":1}\n'],
    [8, '{"b":2}\n'],
    [16, '{"c":3}'],
  ]);
});

test("empty input", () => {
  assert.deepEqual(cut("", O(0), P("\n")), []);
  assert.deepEqual(cut("", P("X"), P("\n")), []);
  assert.deepEqual(cut("", O(0), O(4)), []);
});

test("WARC-like input with garbage before the first record", () => {
  const rec1 = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://a\r\n\r\nhello\r\n\r\n";
  const rec2 = "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://b\r\n\r\nworld\r\n\r\n";
  const garbage = "junk header\r\nmore junk\r\n";
  const data = garbage + rec1 + "\n" + rec2;
  const head = (r) => r.slice(0, r.indexOf("\r\n\r\n") + 4);
  // the first "\r\n\r\n" after the start pattern (end of headers) ends a record; the body is skipped
  assert.deepEqual(cut(data, P("WARC/1.0"), P("\r\n\r\n")), [
    [garbage.length, head(rec1)],
    [garbage.length + rec1.length + 1, head(rec2)],
  ]);
  // a WET-style pair: start "WARC-Type: conversion", end "\n\r\n\r\n"
  const one = "WARC-Type: conversion\nbody one\n\r\n\r\n";
  const two = "WARC-Type: conversion\nbody two\n\r\n\r\n";
  const wet = "junk" + one + "XX" + two + "tail";
  assert.deepEqual(cut(wet, P("WARC-Type: conversion"), P("\n\r\n\r\n")), [
    [4, one],
    [4 + one.length + 2, two],
  ]);
});

test("the end pattern is searched after the start pattern", () => {
  assert.deepEqual(cut("ABC..AB..ABC-AB", P("ABC"), P("AB")), [
    [0, "ABC..AB"],
    [9, "ABC-AB"],
  ]);
  // for an OFFSET start the end pattern may begin at the record start
  assert.deepEqual(cut("\n\nx\n", O(0), P("\n")), [
    [0, "\n"],
    [1, "\n"],
    [2, "x\n"],
  ]);
});

test("final record without an end pattern", () => {
  assert.deepEqual(cut("S1 aaa;S2 bbb", P("S"), P(";")), [
    [0, "S1 aaa;"],
    [7, "S2 bbb"],
  ]);
  // no start occurrence after the last record: done, trailing bytes dropped
  assert.deepEqual(cut("S1;zzz", P("S"), P(";")), [[0, "S1;"]]);
});

test("offset hints", () => {
  const data = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const raw = (d, s, e) => [...iterRecords(d, s, e)].map(([o, r]) => [o, [...r]]);
  assert.deepEqual(raw(data, O(0), O(4)), [
    [0, [0, 1, 2, 3]],
    [4, [4, 5, 6, 7]],
    [8, [8, 9]],
  ]);
  // a start offset k skips k bytes after the cursor each time
  assert.deepEqual(raw(data, O(1), O(3)), [
    [1, [1, 2, 3]],
    [5, [5, 6, 7]],
    [9, [9]],
  ]);
  assert.deepEqual(raw(data, O(10), O(3)), []);
  assert.deepEqual(cut("xx|r1|r2|", P("r"), O(2)), [
    [3, "r1"],
    [6, "r2"],
  ]);
});

test("patterns are matched as UTF-8 bytes", () => {
  assert.deepEqual(cut("aé§bé§c", O(0), P("é§")), [
    [0, latin1("aé§")],
    [5, latin1("bé§")],
    [10, "c"],
  ]);
  // a Uint8Array pattern is taken as is
  assert.deepEqual(cut("a\x00b\x00", O(0), { recordHintType: "PATTERN", pattern: bytes([0]) }), [
    [0, "a\x00"],
    [2, "b\x00"],
  ]);
});

test("records are copies with their own buffer", () => {
  const data = enc("ab\ncd\n");
  const [[, first], [, second]] = [...iterRecords(data, O(0), P("\n"))];
  assert.equal(first.byteOffset, 0);
  assert.equal(first.buffer.byteLength, 3);
  first[0] = 0x7a;
  assert.equal(data[0], 0x61);
  assert.equal(second.length, 3);
});

test("hint objects are duck-typed", () => {
  class Hint {
    constructor(t, p, o) {
      this.recordHintType = t;
      this.pattern = p;
      this.offset = o;
    }
  }
  assert.deepEqual(cut("a\nb\n", new Hint("OFFSET", null, 0), new Hint("pattern", "\n", -1)), [
    [0, "a\n"],
    [2, "b\n"],
  ]);
  assert.deepEqual(
    cut("a\nb\n", { recordHintType: "OFFSET", offset: 0 }, { recordHintType: "PATTERN", pattern: "\n" }),
    [
      [0, "a\n"],
      [2, "b\n"],
    ],
  );
  const asMap = new Map([
    ["recordHintType", "PATTERN"],
    ["pattern", "\n"],
  ]);
  assert.deepEqual(cut("a\nb", O(0), asMap), [
    [0, "a\n"],
    [2, "b"],
  ]);
  // an enum-like object of another library
  const enumLike = { recordHintType: { name: "OFFSET" }, offset: 0 };
  assert.deepEqual(cut("a\n", enumLike, P("\n")), [[0, "a\n"]]);
  // ArrayBuffer and other views as input
  assert.deepEqual([...iterRecords(enc("a\nb").buffer, O(0), P("\n"))].length, 2);
  assert.deepEqual([...iterRecords(Buffer.from("a\nb"), O(0), P("\n"))].length, 2);
});

test("invalid hints are rejected when iterRecords is called", () => {
  const cases = [
    [P(""), P("\n"), RangeError],
    [O(0), P(""), RangeError],
    [O(0), O(0), RangeError],
    [O(-1), P("\n"), RangeError],
    [O(0), O(-3), RangeError],
    [null, P("\n"), TypeError],
    [undefined, P("\n"), TypeError],
    [new RecordParseHint(RecordHintType.PATTERN, null, -1), P("\n"), TypeError],
    [new RecordParseHint("BOGUS", "x", 1), P("\n"), TypeError],
    [O(1.5), P("\n"), TypeError],
    [{ recordHintType: "OFFSET", offset: "3" }, P("\n"), TypeError],
    [{ recordHintType: "OFFSET", offset: true }, P("\n"), TypeError],
    ["PATTERN", P("\n"), TypeError],
  ];
  for (const [start, end, type] of cases) {
    // no next(): the error comes from the call itself
    assert.throws(() => iterRecords(enc("abc"), start, end), type, JSON.stringify([start, end]));
  }
  assert.throws(() => iterRecords("abc", O(0), P("\n")), TypeError);
  assert.throws(() => iterRecords(enc("abc"), O(0), O(0)), /end OFFSET hint must be > 0, got 0/);
  assert.throws(() => iterRecords(enc("abc"), O(-1), O(1)), /start OFFSET hint must be >= 0, got -1/);
});

test("normalizeHint", () => {
  assert.deepEqual(normalizeHint(P("ab")), { kind: "PATTERN", pattern: bytes([97, 98]), offset: null });
  assert.deepEqual(normalizeHint(O(3), "end"), { kind: "OFFSET", pattern: null, offset: 3 });
  assert.deepEqual(normalizeHint(O(0), "start"), { kind: "OFFSET", pattern: null, offset: 0 });
});

test("indexOfBytes", () => {
  const hay = enc("abcabcabd");
  assert.equal(indexOfBytes(hay, enc("abd")), 6);
  assert.equal(indexOfBytes(hay, enc("abc"), 1), 3);
  assert.equal(indexOfBytes(hay, enc("c"), 6), -1);
  assert.equal(indexOfBytes(hay, enc("abd"), 7), -1);
  assert.equal(indexOfBytes(hay, enc("abcabcabdx")), -1);
  assert.equal(indexOfBytes(hay, enc("b"), 100), -1);
});

// ------------------------------------------------------------------ randomized comparison

/** Seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    random: next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    choice: (arr) => arr[Math.floor(next() * arr.length)],
  };
}

/** Straightforward reference implementation of the cutting rules, on Node Buffers. */
function naive(data, start, end) {
  const out = [];
  const n = data.length;
  let c = 0;
  for (;;) {
    let s;
    let from;
    if (start[0] === "P") {
      s = data.indexOf(start[1], c);
      if (s < 0) break;
      from = s + start[1].length;
    } else {
      s = c + start[1];
      if (s >= n) break;
      from = s;
    }
    let e;
    if (end[0] === "P") {
      const j = from > n ? -1 : data.indexOf(end[1], from);
      if (j < 0) {
        if (n > s) out.push([s, data.subarray(s).toString("latin1")]);
        break;
      }
      e = j + end[1].length;
    } else {
      e = Math.min(s + end[1], n);
    }
    out.push([s, data.subarray(s, e).toString("latin1")]);
    c = e;
  }
  return out;
}

const toHint = (spec) => (spec[0] === "P" ? P(spec[1].toString("latin1")) : O(spec[1]));

for (let seed = 0; seed < 8; seed++) {
  test(`randomized comparison against a naive reference (seed ${seed})`, () => {
    const r = rng(seed);
    const alphabet = "ab\n";
    const randomBytes = (lo, hi) => {
      const len = r.int(lo, hi);
      let s = "";
      for (let i = 0; i < len; i++) s += r.choice(alphabet);
      return Buffer.from(s, "latin1");
    };
    for (let i = 0; i < 250; i++) {
      const data = randomBytes(0, 80);
      const spec = (isEnd) => (r.random() < 0.6 ? ["P", randomBytes(1, 3)] : ["O", r.int(isEnd ? 1 : 0, 6)]);
      const start = spec(false);
      const end = spec(true);
      const expected = naive(data, start, end);
      const got = [...iterRecords(new Uint8Array(data), toHint(start), toHint(end))].map(([o, rec]) => [
        o,
        Buffer.from(rec).toString("latin1"),
      ]);
      assert.deepEqual(got, expected, JSON.stringify({ data: data.toString("latin1"), start, end }));
    }
  });
}

test("a large input is cut line by line", () => {
  const lines = [];
  for (let i = 0; i < 20000; i++) lines.push(`{"i":${i}}\n`);
  const data = enc(lines.join(""));
  const out = [...iterRecords(data, O(0), P("\n"))];
  assert.equal(out.length, lines.length);
  assert.deepEqual(
    out.map(([, rec]) => new TextDecoder().decode(rec)),
    lines,
  );
  assert.equal(out[out.length - 1][0], data.length - lines[lines.length - 1].length);
});
