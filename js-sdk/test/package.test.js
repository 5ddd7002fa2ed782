import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SDK_DIR = fileURLToPath(new URL("..", import.meta.url));
const read = (rel) => fs.readFileSync(path.join(SDK_DIR, rel), "utf8");

/** Names exported by an ES module's source text, following `export * from` re-exports. */
function exportNames(file, seen = new Set()) {
  if (seen.has(file)) return new Set();
  seen.add(file);
  const text = stripComments(fs.readFileSync(file, "utf8"));
  const names = new Set();
  for (const m of text.matchAll(/export\s*\*\s*from\s*["']([^"']+)["']/g)) {
    for (const n of exportNames(path.resolve(path.dirname(file), m[1]), seen)) names.add(n);
  }
  for (const m of text.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const spec = part.trim();
      if (!spec) continue;
      const alias = spec.split(/\s+as\s+/).at(-1).trim();
      names.add(alias);
    }
  }
  for (const m of text.matchAll(/export\s+(?:async\s+)?(?:function\s*\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)/g)) {
    names.add(m[1]);
  }
  if (/export\s+default\b/.test(text)) names.add("default");
  return names;
}

/** Value names declared in a .d.ts (types and interfaces are not values). */
function declaredValues(text) {
  const names = new Set();
  for (const m of text.matchAll(
    /export\s+(?:declare\s+)?(?:abstract\s+)?(?:class|function|const|let|var|enum|namespace)\s+([A-Za-z_$][\w$]*)/g,
  )) {
    names.add(m[1]);
  }
  return names;
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

test("index.d.ts declares every value exported by index.js", async () => {
  const parsed = exportNames(path.join(SDK_DIR, "index.js"));
  const runtime = Object.keys(await import("../index.js"));
  assert.deepEqual([...parsed].sort(), [...runtime].sort(), "the parser sees what the module exports");
  const declared = declaredValues(read("index.d.ts"));
  const missing = [...parsed].filter((n) => !declared.has(n));
  assert.deepEqual(missing, [], `missing from index.d.ts: ${missing.join(", ")}`);
  const extra = [...declared].filter((n) => !parsed.has(n));
  assert.deepEqual(extra, [], `declared in index.d.ts but not exported: ${extra.join(", ")}`);
});

test("src/harness.d.ts declares every value exported by src/harness.js", async () => {
  const parsed = exportNames(path.join(SDK_DIR, "src", "harness.js"));
  const runtime = Object.keys(await import("../src/harness.js"));
  assert.deepEqual([...parsed].sort(), [...runtime].sort());
  const declared = declaredValues(read("src/harness.d.ts"));
  assert.deepEqual(
    [...parsed].filter((n) => !declared.has(n)),
    [],
  );
});

test("package.json", () => {
  const pkg = JSON.parse(read("package.json"));
  assert.equal(pkg.name, "ferry");
  assert.equal(pkg.type, "module");
  assert.equal(pkg.types, "./index.d.ts");
  assert.equal(pkg.exports["."].default, "./index.js");
  assert.equal(pkg.exports["."].types, "./index.d.ts");
  assert.equal(pkg.exports["./harness"].default, "./src/harness.js");
  assert.equal(pkg.scripts.test, "node --test");
  for (const key of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
    assert.equal(pkg[key], undefined, key);
  }
  for (const target of [pkg.types, pkg.exports["."].default, pkg.exports["./harness"].default, pkg.exports["./harness"].types]) {
    assert.ok(fs.existsSync(path.join(SDK_DIR, target)), target);
  }
});

const ENGINE_NEUTRAL = ["documents.js", "results.js", "interfaces.js", "errors.js", "records.js", "text.js", "discover.js", "index.js"];

test("engine-neutral modules use no Node API", () => {
  const forbidden = /\b(?:require|process|Buffer|TextEncoder|TextDecoder|globalThis|console|setTimeout|URL)\b/;
  for (const name of ENGINE_NEUTRAL) {
    const code = stripComments(read(path.join("src", name)));
    for (const m of code.matchAll(/(?:import|export)[^;]*?from\s*["']([^"']+)["']/g)) {
      assert.ok(m[1].startsWith("./"), `${name} imports ${m[1]}`);
    }
    const hit = forbidden.exec(code);
    assert.equal(hit, null, `${name} uses ${hit && hit[0]}`);
  }
});

// Runs the engine-neutral modules in a bare V8 context (only the ECMAScript
// built-ins, as in an embedded engine) and exercises them there.
const BARE_CONTEXT_SCRIPT = String.raw`
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const srcDir = process.argv[1];
const context = vm.createContext({});
const cache = new Map();
function load(file) {
  let mod = cache.get(file);
  if (!mod) {
    mod = new vm.SourceTextModule(fs.readFileSync(file, "utf8"), { identifier: file, context });
    cache.set(file, mod);
  }
  return mod;
}
const linker = (specifier, referencing) => load(path.resolve(path.dirname(referencing.identifier), specifier));
const check = new vm.SourceTextModule(
  ` + "`" + String.raw`
  import * as ferry from "./index.js";
  const out = [];
  out.push(typeof TextEncoder, typeof Buffer, typeof process);
  const doc = new ferry.Document(ferry.DocumentType.Document, "id", "R", "pk", null, { "é": [1, 2], n: null });
  out.push(doc.serialize());
  out.push(ferry.ErrorDoc.of({ errorMessage: "m" }).serialize());
  const data = ferry.utf8Encode("x§y§z");
  out.push(JSON.stringify([...ferry.iterRecords(data, ferry.RecordParseHint.ofOffset(0), ferry.RecordParseHint.ofPattern("§"))].map(([o, r]) => [o, r.length])));
  class P extends ferry.SingleFileParser {}
  out.push(JSON.stringify([...ferry.findHandlers({ P, default: { QueueMessageReader: class Q {} } })].map(([k, v]) => k + "=" + v.name)));
  try { new P().getS3FileType(); } catch (e) { out.push(e.message); }
  out.push(String(new ferry.RetryableError("r").retryable));
  out.push(ferry.utf8Decode(ferry.utf8Encode("héllo ☃ 😀")));
  globalThis.result = out;
  ` + "`" + String.raw`,
  { identifier: path.join(srcDir, "__check__.js"), context },
);
await check.link(linker);
await check.evaluate();
process.stdout.write(JSON.stringify(context.result));
`;

test("engine-neutral modules run in a bare context without Node globals", () => {
  const res = spawnSync(
    process.execPath,
    ["--experimental-vm-modules", "--no-warnings", "--input-type=module", "-e", BARE_CONTEXT_SCRIPT, path.join(SDK_DIR, "src")],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(JSON.parse(res.stdout), [
    "undefined",
    "undefined",
    "undefined",
    '{"documentId":"id","recordType":"R","partitionKey":"pk","documentMetadata":{},"é":[1,2],"n":null}',
    '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}}',
    "[[0,3],[3,3],[6,1]]",
    '["SingleFileParser=P","QueueMessageReader=Q"]',
    "Not Yet Implemented",
    "true",
    "héllo ☃ 😀",
  ]);
});
