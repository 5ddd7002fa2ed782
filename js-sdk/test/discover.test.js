import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import * as ferry from "../index.js";
import { findHandlers, HandlerLoadError, inheritedInterface, INTERFACE_MARK } from "../index.js";

const INDEX_URL = new URL("../index.js", import.meta.url).href;

/** A module namespace-like object: null prototype, like what import() returns. */
function ns(entries) {
  return Object.assign(Object.create(null), entries);
}

function names(map) {
  return Object.fromEntries([...map].map(([k, v]) => [k, v.name]));
}

test("named exports called like an interface (LetsData layout)", () => {
  class SingleFileParser {
    parseDocument() {}
  }
  class QueueMessageReader {}
  const found = findHandlers(ns({ QueueMessageReader, SingleFileParser, Document: class Document {}, helper: 1 }));
  assert.ok(found instanceof Map);
  // INTERFACE_NAMES order, whatever the export order
  assert.deepEqual([...found.keys()], ["SingleFileParser", "QueueMessageReader"]);
  assert.equal(found.get("SingleFileParser"), SingleFileParser);
  assert.equal(found.get("QueueMessageReader"), QueueMessageReader);
});

test("a default export object holding interface keys, only when there is no named one", () => {
  class MyParser {}
  class MyReader {}
  const found = findHandlers(ns({ default: { SingleFileParser: MyParser, KinesisRecordReader: MyReader, other: 1 } }));
  assert.deepEqual(names(found), { SingleFileParser: "MyParser", KinesisRecordReader: "MyReader" });

  class Named {}
  const both = findHandlers(ns({ SingleFileParser: Named, default: { QueueMessageReader: MyReader } }));
  assert.deepEqual(names(both), { SingleFileParser: "Named" });
});

test("subclasses of the SDK base classes under any export name", () => {
  class Parser extends ferry.SingleFileParser {}
  class Base extends ferry.QueueMessageReader {}
  class Reader extends Base {} // an intermediate class of the user's: the most derived one wins
  class Vectors extends ferry.SagemakerVectorsInterface {}
  const found = findHandlers(
    ns({ Parser, Base, Reader, default: Vectors, SingleFileParserBase: ferry.SingleFileParser, x: {} }),
  );
  assert.deepEqual(names(found), {
    SingleFileParser: "Parser",
    QueueMessageReader: "Reader",
    SagemakerVectorsInterface: "Vectors",
  });
  assert.equal(inheritedInterface(Reader), "QueueMessageReader");
  assert.equal(inheritedInterface(ferry.QueueMessageReader), null);
  assert.equal(inheritedInterface(class {}), null);
  assert.equal(inheritedInterface(42), null);
});

test("the SDK base classes themselves are not handlers", () => {
  assert.equal(findHandlers(ns({ ...ferry })).size, 0);
  assert.equal(findHandlers(ns({ default: { SingleFileParser: ferry.SingleFileParser } })).size, 0);
});

test("by-name and by-inheritance results are combined", () => {
  class Parser extends ferry.SingleFileParser {}
  class DynamoDBTableItemReader {}
  const found = findHandlers(ns({ Parser, DynamoDBTableItemReader, SingleFileParser: Parser }));
  assert.deepEqual(names(found), { SingleFileParser: "Parser", DynamoDBTableItemReader: "DynamoDBTableItemReader" });
});

test("one class may serve several interfaces", () => {
  class Both {}
  const found = findHandlers(ns({ default: { QueueMessageReader: Both, KinesisRecordReader: Both } }));
  assert.equal(found.get("QueueMessageReader"), Both);
  assert.equal(found.get("KinesisRecordReader"), Both);
});

test("two unrelated classes for one interface are an error", () => {
  class FirstParser extends ferry.SingleFileParser {}
  class SecondParser extends ferry.SingleFileParser {}
  assert.throws(
    () => findHandlers(ns({ FirstParser, SecondParser }), "/tmp/dup.js"),
    (err) =>
      err instanceof HandlerLoadError &&
      err.message ===
        "/tmp/dup.js defines more than one SingleFileParser handler class: FirstParser and SecondParser; keep exactly one" &&
      err.path === "/tmp/dup.js",
  );
  class SingleFileParser {}
  assert.throws(() => findHandlers(ns({ SingleFileParser, FirstParser })), /the module defines more than one/);
});

test("a non-class exported under an interface name is an error", () => {
  assert.throws(
    () => findHandlers(ns({ SingleFileParser: { parseDocument() {} } }), "h.js"),
    (err) => err instanceof HandlerLoadError && /export SingleFileParser is not a class/.test(err.message),
  );
  assert.throws(
    () => findHandlers(ns({ default: { QueueMessageReader: () => null } })),
    /default export property QueueMessageReader is not a class/,
  );
});

test("nothing found gives an empty Map; bad input throws", () => {
  assert.equal(findHandlers(ns({})).size, 0);
  assert.equal(findHandlers(ns({ default: class Foo {} })).size, 0);
  assert.equal(findHandlers(ns({ default: null })).size, 0);
  assert.throws(() => findHandlers(null), TypeError);
});

test("base classes are recognised across copies of the SDK", () => {
  // A second copy of the base class, as another copy of the SDK would define it.
  class SingleFileParser {}
  Object.defineProperty(SingleFileParser, INTERFACE_MARK, { value: "SingleFileParser" });
  class Parser extends SingleFileParser {}
  assert.deepEqual(names(findHandlers(ns({ Parser, SingleFileParser }))), { SingleFileParser: "Parser" });
});

test("real module namespaces", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-discover-"));
  try {
    const write = (name, text) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return pathToFileURL(file).href;
    };
    const ferryStyle = write(
      "ferry_style.mjs",
      `import { SingleFileParser, QueueMessageReader } from ${JSON.stringify(INDEX_URL)};
       export class JsonLines extends SingleFileParser { getS3FileType() { return "JSONL"; } }
       export default class Queue extends QueueMessageReader {}
       export const notAClass = 1;`,
    );
    assert.deepEqual(names(findHandlers(await import(ferryStyle))), {
      SingleFileParser: "JsonLines",
      QueueMessageReader: "Queue",
    });
    const letsdataStyle = write(
      "letsdata_style.mjs",
      `export class SingleFileParser { getS3FileType() { return "WET"; } }
       export class ParseDocumentResult {}`,
    );
    assert.deepEqual(names(findHandlers(await import(letsdataStyle))), { SingleFileParser: "SingleFileParser" });
    const commonjs = write(
      "commonjs_style.cjs",
      `class KinesisRecordReader {}
       module.exports = { KinesisRecordReader };`,
    );
    assert.deepEqual(names(findHandlers(await import(commonjs))), { KinesisRecordReader: "KinesisRecordReader" });
    const defaultObject = write(
      "default_object.mjs",
      `class Mine {}
       export default { DynamoDBStreamsRecordReader: Mine };`,
    );
    assert.deepEqual(names(findHandlers(await import(defaultObject))), { DynamoDBStreamsRecordReader: "Mine" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
