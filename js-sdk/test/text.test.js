import assert from "node:assert/strict";
import { test } from "node:test";

import { utf8Decode, utf8Encode } from "../index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const fatalDecoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

/** Seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES = ["", "abc", "é", "§", "\u2603", "😀", "a\u0000b", "\ud800", "x\udc00y", "\ud83d", "\uffff", "\u07ff\u0800", "\ufeffbom"];

test("utf8Encode matches TextEncoder", () => {
  for (const s of SAMPLES) assert.deepEqual(utf8Encode(s), encoder.encode(s), JSON.stringify(s));
});

test("utf8Decode round-trips and keeps a BOM", () => {
  for (const s of SAMPLES) assert.equal(utf8Decode(encoder.encode(s)), decoder.decode(encoder.encode(s)), JSON.stringify(s));
  assert.equal(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)), "\ufeffa");
  assert.equal(utf8Decode(encoder.encode("héllo").buffer), "héllo");
  const big = "x€😀".repeat(20000); // more than one output chunk
  assert.equal(utf8Decode(encoder.encode(big)), big);
  assert.throws(() => utf8Decode("text"), TypeError);
});

test("utf8Decode matches TextDecoder on random bytes", () => {
  const random = rng(7);
  // bytes biased towards the interesting UTF-8 ranges
  const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(random() * 12);
    const bytes = new Uint8Array(len);
    for (let j = 0; j < len; j++) bytes[j] = random() < 0.7 ? pool[Math.floor(random() * pool.length)] : Math.floor(random() * 256);
    const expected = decoder.decode(bytes);
    assert.equal(utf8Decode(bytes), expected, String([...bytes]));
    let ok = true;
    try {
      fatalDecoder.decode(bytes);
    } catch (_) {
      ok = false;
    }
    if (ok) assert.equal(utf8Decode(bytes, { fatal: true }), expected);
    else assert.throws(() => utf8Decode(bytes, { fatal: true }), TypeError, String([...bytes]));
  }
});
