import assert from "node:assert/strict";
import { test } from "node:test";

import * as ferry from "../index.js";
import { Document, DocumentType, ErrorDoc, flatJson, RESERVED_KEYS, SkipDoc } from "../index.js";

const ATTRS = ["documentType", "documentId", "recordType", "partitionKey", "documentMetadata", "documentKeyValuesMap"];

test("DocumentType is a frozen name -> name object", () => {
  assert.deepEqual(Object.keys(DocumentType), ["Document", "ErrorDoc", "SkipDoc"]);
  assert.deepEqual(Object.values(DocumentType), ["Document", "ErrorDoc", "SkipDoc"]);
  assert.ok(Object.isFrozen(DocumentType));
  assert.throws(() => {
    DocumentType.Other = "x";
  }, TypeError);
});

test("Document positional order, properties and getters", () => {
  const md = { m: 1 };
  const kv = { a: 1 };
  const d = new Document(DocumentType.Document, "id1", "Content", "pk1", md, kv);
  assert.deepEqual(Object.keys(d), ATTRS);
  assert.deepEqual(
    [d.documentType, d.documentId, d.recordType, d.partitionKey],
    ["Document", "id1", "Content", "pk1"],
  );
  assert.equal(d.documentMetadata, md);
  assert.equal(d.documentKeyValuesMap, kv);
  assert.equal(d.getDocumentType(), DocumentType.Document);
  assert.equal(d.getDocumentId(), "id1");
  assert.equal(d.getRecordType(), "Content");
  assert.equal(d.getPartitionKey(), "pk1");
  assert.equal(d.getDocumentMetadata(), md);
  assert.equal(d.getDocumentKeyValuesMap(), kv);
});

test("Document defaults and named construction", () => {
  const d = new Document();
  assert.equal(d.documentType, DocumentType.Document);
  for (const name of ATTRS.slice(1)) assert.equal(d[name], null, name);
  const d2 = Document.of({ documentId: "x", documentKeyValuesMap: { k: "v" } });
  assert.ok(d2 instanceof Document);
  assert.equal(d2.documentId, "x");
  assert.deepEqual(d2.documentKeyValuesMap, { k: "v" });
  assert.equal(d2.documentType, "Document");
  assert.equal(new Document(null).documentType, null); // an explicit value is stored as given
});

test("SDK document instances are not extensible, subclasses are", () => {
  const d = new Document();
  assert.ok(!Object.isExtensible(d));
  assert.throws(() => {
    d.somethingElse = 1;
  }, TypeError);
  d.documentId = "ok"; // existing properties stay writable
  assert.equal(d.documentId, "ok");

  class Mine extends Document {
    constructor() {
      super(DocumentType.Document, "m");
      this.extra = 1;
    }
  }
  const m = new Mine();
  assert.equal(m.extra, 1);
  assert.equal(m.serialize(), '{"documentId":"m","recordType":null,"partitionKey":null,"documentMetadata":{}}');
});

test("ErrorDoc", () => {
  const start = { WET: "10" };
  const end = { WET: "20" };
  const e = new ErrorDoc("id", "rt", "pk", { m: 1 }, { k: 1 }, start, end, "bad record");
  assert.ok(e instanceof Document);
  assert.deepEqual(Object.keys(e), [...ATTRS, "errorStartoffsetMap", "errorEndoffsetMap", "errorMessage"]);
  assert.equal(e.documentType, DocumentType.ErrorDoc);
  assert.equal(e.getDocumentType(), "ErrorDoc");
  assert.deepEqual([e.documentId, e.recordType, e.partitionKey], ["id", "rt", "pk"]);
  assert.deepEqual(e.documentMetadata, { m: 1 });
  assert.deepEqual(e.documentKeyValuesMap, { k: 1 });
  // lowercase "o" in the property, capital "O" in the getter
  assert.equal(e.errorStartoffsetMap, start);
  assert.equal(e.errorEndoffsetMap, end);
  assert.equal(e.getErrorStartOffsetMap(), start);
  assert.equal(e.getErrorEndOffsetMap(), end);
  assert.equal(e.errorMessage, "bad record");
  assert.equal(e.getErrorMessage(), "bad record");
  assert.ok(!("skipMessage" in e));
  assert.ok(!Object.isExtensible(e));
  const kw = ErrorDoc.of({ errorMessage: "m", errorStartoffsetMap: { a: "1" } });
  assert.ok(kw instanceof ErrorDoc);
  assert.equal(kw.documentType, "ErrorDoc");
  assert.equal(kw.documentId, null);
  assert.equal(kw.errorEndoffsetMap, null);
  assert.deepEqual(kw.errorStartoffsetMap, { a: "1" });
});

test("SkipDoc", () => {
  const s = new SkipDoc("id", "rt", "pk", null, null, { a: "1" }, { a: "2" }, "nothing to do");
  assert.ok(s instanceof Document);
  assert.deepEqual(Object.keys(s), [...ATTRS, "errorStartoffsetMap", "errorEndoffsetMap", "skipMessage"]);
  assert.equal(s.documentType, DocumentType.SkipDoc);
  assert.equal(s.skipMessage, "nothing to do");
  assert.equal(s.getSkipMessage(), "nothing to do");
  assert.deepEqual(s.getErrorStartOffsetMap(), { a: "1" });
  assert.deepEqual(s.getErrorEndOffsetMap(), { a: "2" });
  assert.deepEqual(s.errorStartoffsetMap, { a: "1" });
  assert.ok(!("errorMessage" in s));
  const kw = SkipDoc.of({ skipMessage: "empty" });
  assert.ok(kw instanceof SkipDoc);
  assert.equal(kw.skipMessage, "empty");
  assert.equal(kw.documentType, "SkipDoc");
});

test("serialize: key order and compact format", () => {
  const d = new Document(DocumentType.Document, "u1", "Content", "p1", { src: "x" }, {
    zeta: 1,
    alpha: [1, 2],
    text: "héllo \u2603",
    nested: { b: 1, a: null },
  });
  const s = d.serialize();
  assert.equal(
    s,
    '{"documentId":"u1","recordType":"Content","partitionKey":"p1","documentMetadata":{"src":"x"},' +
      '"zeta":1,"alpha":[1,2],"text":"héllo \u2603","nested":{"b":1,"a":null}}',
  );
  assert.equal(s, flatJson(d));
  assert.deepEqual(Object.keys(JSON.parse(s)), [
    "documentId",
    "recordType",
    "partitionKey",
    "documentMetadata",
    "zeta",
    "alpha",
    "text",
    "nested",
  ]);
});

test("serialize: reserved keys in the map are ignored", () => {
  const d = Document.of({
    documentId: "real",
    recordType: "R",
    partitionKey: "P",
    documentMetadata: null,
    documentKeyValuesMap: {
      documentId: "fake",
      a: 1,
      partitionKey: "fake",
      recordType: "f",
      documentMetadata: { x: 1 },
      documentType: "kept",
    },
  });
  const s = d.serialize();
  assert.equal(
    s,
    '{"documentId":"real","recordType":"R","partitionKey":"P","documentMetadata":{},"a":1,"documentType":"kept"}',
  );
  assert.deepEqual([...RESERVED_KEYS], ["documentId", "recordType", "partitionKey", "documentMetadata"]);
});

test("serialize: nulls and undefined", () => {
  assert.equal(
    new Document().serialize(),
    '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}}',
  );
  const e = ErrorDoc.of({ documentId: "e", errorMessage: "m", documentKeyValuesMap: { raw: "x" } });
  assert.equal(e.serialize(), '{"documentId":"e","recordType":null,"partitionKey":null,"documentMetadata":{},"raw":"x"}');
  // undefined is written as null for the four fixed keys and omitted from the map (as JSON.stringify does)
  const u = new Document(DocumentType.Document, undefined, undefined, undefined, undefined, { a: undefined, b: 2 });
  assert.equal(u.serialize(), '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{},"b":2}');
});

test("serialize: the fixed keys come first even for integer-like map keys", () => {
  // A plain object lists integer-like keys first; the fixed keys must still lead.
  const d = Document.of({ documentId: "i", documentKeyValuesMap: { b: 1, 2: "two", a: 3 } });
  assert.equal(
    d.serialize(),
    '{"documentId":"i","recordType":null,"partitionKey":null,"documentMetadata":{},"2":"two","b":1,"a":3}',
  );
  // A Map keeps insertion order exactly.
  const m = Document.of({ documentId: "m", documentKeyValuesMap: new Map([["b", 1], ["2", "two"], ["documentId", "x"], ["a", 3]]) });
  assert.equal(
    m.serialize(),
    '{"documentId":"m","recordType":null,"partitionKey":null,"documentMetadata":{},"b":1,"2":"two","a":3}',
  );
});

test("flatJson is duck-typed", () => {
  const mine = {
    documentId: "d",
    recordType: "r",
    partitionKey: "p",
    documentMetadata: { k: 2 },
    documentKeyValuesMap: { v: true },
  };
  assert.equal(flatJson(mine), '{"documentId":"d","recordType":"r","partitionKey":"p","documentMetadata":{"k":2},"v":true}');
  assert.equal(flatJson({}), '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{}}');
  assert.throws(() => flatJson(null), TypeError);
});

test("serialize rejects values JSON cannot hold", () => {
  const bad = [
    new Uint8Array([1]),
    new ArrayBuffer(2),
    10n,
    () => 1,
    Symbol("s"),
    NaN,
    Infinity,
    new Map([["a", 1]]),
    new Set([1]),
    { nested: [new Uint8Array(1)] },
  ];
  for (const value of bad) {
    assert.throws(() => Document.of({ documentKeyValuesMap: { b: value } }).serialize(), TypeError, String(value));
  }
  assert.throws(() => Document.of({ documentMetadata: { n: NaN } }).serialize(), TypeError);
  assert.throws(() => Document.of({ documentKeyValuesMap: "text" }).serialize(), TypeError);
  assert.throws(() => Document.of({ documentKeyValuesMap: [1, 2] }).serialize(), TypeError);
  assert.throws(
    () => Document.of({ documentKeyValuesMap: { b: new Uint8Array([1]) } }).serialize(),
    /Object of type Uint8Array is not JSON serializable/,
  );
  // values with toJSON are written as their JSON form
  assert.equal(
    Document.of({ documentKeyValuesMap: { t: new Date(0) } }).serialize(),
    '{"documentId":null,"recordType":null,"partitionKey":null,"documentMetadata":{},"t":"1970-01-01T00:00:00.000Z"}',
  );
});

test("JSON.stringify gives the nested LetsData wire form", () => {
  const d = new Document(DocumentType.Document, "U", "Content", "U", {}, { docText: "t" });
  assert.deepEqual(JSON.parse(JSON.stringify(d)), {
    documentType: "Document",
    documentId: "U",
    recordType: "Content",
    partitionKey: "U",
    documentMetadata: {},
    documentKeyValuesMap: { docText: "t" },
  });
});

test("public re-exports", () => {
  for (const name of [
    "Document",
    "ErrorDoc",
    "SkipDoc",
    "DocumentType",
    "flatJson",
    "ParseDocumentResult",
    "ParseDocumentResultStatus",
    "RecordParseHint",
    "RecordHintType",
    "SingleFileParser",
    "QueueMessageReader",
    "KinesisRecordReader",
    "DynamoDBStreamsRecordReader",
    "DynamoDBTableItemReader",
    "SagemakerVectorsInterface",
    "INTERFACE_NAMES",
    "RetryableError",
    "HandlerLoadError",
    "iterRecords",
    "findHandlers",
  ]) {
    assert.ok(name in ferry, name);
  }
  assert.equal(ferry.VERSION, "0.1.0");
});
