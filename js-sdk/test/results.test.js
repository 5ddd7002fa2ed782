import assert from "node:assert/strict";
import { test } from "node:test";

import * as ferry from "../index.js";
import {
  Document,
  HandlerLoadError,
  INTERFACE_CLASSES,
  INTERFACE_NAMES,
  NOT_YET_IMPLEMENTED,
  ParseDocumentResult,
  ParseDocumentResultStatus,
  RecordHintType,
  RecordParseHint,
  RetryableError,
} from "../index.js";

/** Parameter names of a method, read from its source. */
function params(cls, name) {
  const src = cls.prototype[name].toString();
  const inner = src.slice(src.indexOf("(") + 1, src.indexOf(")"));
  return inner
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

test("ParseDocumentResultStatus", () => {
  assert.deepEqual(Object.values(ParseDocumentResultStatus), ["SUCCESS", "ERROR", "SKIP"]);
  for (const [k, v] of Object.entries(ParseDocumentResultStatus)) assert.equal(k, v);
  assert.ok(Object.isFrozen(ParseDocumentResultStatus));
});

test("ParseDocumentResult", () => {
  const d = Document.of({ documentId: "x" });
  const r = new ParseDocumentResult(null, d, ParseDocumentResultStatus.SUCCESS);
  assert.deepEqual(Object.keys(r), ["nextRecordType", "document", "status"]);
  assert.equal(r.nextRecordType, null);
  assert.equal(r.document, d);
  assert.equal(r.status, "SUCCESS");
  assert.equal(r.getNextRecordType(), null);
  assert.equal(r.getDocument(), d);
  assert.equal(r.getStatus(), "SUCCESS");
  const r2 = new ParseDocumentResult("next", null, ParseDocumentResultStatus.SKIP);
  assert.equal(r2.getNextRecordType(), "next");
  assert.equal(r2.getStatus(), ParseDocumentResultStatus.SKIP);
  const empty = new ParseDocumentResult();
  assert.deepEqual([empty.nextRecordType, empty.document, empty.status], [null, null, null]);
  assert.ok(!Object.isExtensible(r));
  // the nested wire form of the LetsData success body
  assert.equal(
    JSON.stringify(r),
    '{"nextRecordType":null,"document":{"documentType":"Document","documentId":"x","recordType":null,' +
      '"partitionKey":null,"documentMetadata":null,"documentKeyValuesMap":null},"status":"SUCCESS"}',
  );
});

test("RecordHintType", () => {
  assert.deepEqual(new Set(Object.values(RecordHintType)), new Set(["OFFSET", "PATTERN"]));
  assert.equal(RecordHintType.OFFSET, "OFFSET");
  assert.equal(RecordHintType.PATTERN, "PATTERN");
  assert.ok(Object.isFrozen(RecordHintType));
});

test("RecordParseHint PATTERN", () => {
  const h = new RecordParseHint(RecordHintType.PATTERN, "WARC/1.0", -1);
  assert.deepEqual(Object.keys(h), ["recordHintType", "pattern", "offset"]);
  assert.deepEqual([h.recordHintType, h.pattern, h.offset], ["PATTERN", "WARC/1.0", -1]);
  assert.equal(h.getRecordHintType(), RecordHintType.PATTERN);
  assert.equal(h.getPattern(), "WARC/1.0");
  assert.throws(() => h.getOffset(), /only valid for OFFSET/);
  const p = RecordParseHint.ofPattern("\n");
  assert.ok(p instanceof RecordParseHint);
  assert.equal(p.recordHintType, "PATTERN");
  assert.equal(p.getPattern(), "\n");
  assert.equal(p.offset, -1);
  assert.equal(JSON.stringify(p), '{"recordHintType":"PATTERN","pattern":"\\n","offset":-1}');
});

test("RecordParseHint OFFSET", () => {
  const h = RecordParseHint.ofOffset(128);
  assert.equal(h.recordHintType, RecordHintType.OFFSET);
  assert.equal(h.pattern, null);
  assert.equal(h.getOffset(), 128);
  assert.throws(() => h.getPattern(), /only valid for PATTERN/);
  assert.equal(new RecordParseHint(RecordHintType.OFFSET, null, 0).getOffset(), 0);
  const defaults = new RecordParseHint(RecordHintType.OFFSET);
  assert.deepEqual([defaults.pattern, defaults.offset], [null, -1]);
});

test("interface methods throw Not Yet Implemented", () => {
  const calls = new Map([
    [
      ferry.SingleFileParser,
      [
        ["getS3FileType", []],
        ["getResolvedS3FileName", ["T", "f"]],
        ["getRecordStartPattern", ["T"]],
        ["getRecordEndPattern", ["T"]],
        ["parseDocument", ["T", "f", 0, new Uint8Array([120]), 0, 1]],
      ],
    ],
    [ferry.QueueMessageReader, [["parseMessage", ["id", null, null, {}, "body"]]]],
    [ferry.KinesisRecordReader, [["parseMessage", ["arn", "s", "pk", "1", 1, new Uint8Array([100])]]]],
    [
      ferry.DynamoDBStreamsRecordReader,
      [["parseRecord", ["arn", "s", "e", "INSERT", null, null, "1", 1, "NEW_IMAGE", 1, {}, {}, {}]]],
    ],
    [ferry.DynamoDBTableItemReader, [["parseDynamoDBItem", ["t", 0, {}, {}]]]],
    [
      ferry.SagemakerVectorsInterface,
      [
        ["extractDocumentElementsForVectorization", [{}]],
        ["constructVectorDoc", [{}, {}]],
      ],
    ],
  ]);
  assert.equal(NOT_YET_IMPLEMENTED, "Not Yet Implemented");
  for (const [cls, methods] of calls) {
    for (const [name, args] of methods) {
      assert.throws(
        () => new cls()[name](...args),
        (err) => err instanceof Error && err.message === "Not Yet Implemented",
        `${cls.name}.${name}`,
      );
    }
  }
});

test("interface parameter names and order", () => {
  assert.deepEqual(params(ferry.SingleFileParser, "parseDocument"), [
    "s3FileType",
    "s3Filename",
    "offsetBytes",
    "byteArr",
    "startIndex",
    "endIndex",
  ]);
  assert.deepEqual(params(ferry.SingleFileParser, "getS3FileType"), []);
  assert.deepEqual(params(ferry.SingleFileParser, "getResolvedS3FileName"), ["s3FileType", "fileName"]);
  assert.deepEqual(params(ferry.SingleFileParser, "getRecordStartPattern"), ["s3FileType"]);
  assert.deepEqual(params(ferry.SingleFileParser, "getRecordEndPattern"), ["s3FileType"]);
  assert.deepEqual(params(ferry.QueueMessageReader, "parseMessage"), [
    "messageId",
    "messageGroupId",
    "messageDeduplicationId",
    "messageAttributes",
    "messageBody",
  ]);
  assert.deepEqual(params(ferry.KinesisRecordReader, "parseMessage"), [
    "streamArn",
    "shardId",
    "partitionKey",
    "sequenceNumber",
    "approximateArrivalTimestamp",
    "data",
  ]);
  assert.deepEqual(params(ferry.DynamoDBStreamsRecordReader, "parseRecord"), [
    "streamArn",
    "shardId",
    "eventId",
    "eventName",
    "identityPrincipalId",
    "identityType",
    "sequenceNumber",
    "sizeBytes",
    "streamViewType",
    "approximateCreationDateTime",
    "keys",
    "oldImage",
    "newImage",
  ]);
  assert.deepEqual(params(ferry.DynamoDBTableItemReader, "parseDynamoDBItem"), [
    "tableName",
    "segmentNumber",
    "keys",
    "item",
  ]);
  assert.deepEqual(params(ferry.SagemakerVectorsInterface, "extractDocumentElementsForVectorization"), ["document"]);
  assert.deepEqual(params(ferry.SagemakerVectorsInterface, "constructVectorDoc"), ["documentInterface", "vectorsMap"]);
});

test("INTERFACE_NAMES and INTERFACE_CLASSES", () => {
  assert.deepEqual(
    [...INTERFACE_NAMES],
    [
      "SingleFileParser",
      "QueueMessageReader",
      "KinesisRecordReader",
      "DynamoDBStreamsRecordReader",
      "DynamoDBTableItemReader",
      "SagemakerVectorsInterface",
    ],
  );
  assert.ok(Object.isFrozen(INTERFACE_NAMES));
  for (const name of INTERFACE_NAMES) {
    assert.equal(INTERFACE_CLASSES[name].name, name);
    assert.equal(ferry[name], INTERFACE_CLASSES[name]);
    assert.equal(INTERFACE_CLASSES[name][ferry.INTERFACE_MARK], name);
  }
  assert.equal(ferry.INTERFACE_MARK, Symbol.for("ferry.interface"));
});

test("RetryableError", () => {
  const e = new RetryableError("later");
  assert.ok(e instanceof Error);
  assert.equal(e.retryable, true);
  assert.equal(e.message, "later");
  assert.equal(e.name, "RetryableError");
  assert.equal(new Error("x").retryable, undefined);
  class Mine extends RetryableError {}
  const m = new Mine("m");
  assert.equal(m.retryable, true);
  assert.equal(m.name, "Mine");
  const cause = new Error("root");
  assert.equal(new RetryableError("x", { cause }).cause, cause);
});

test("HandlerLoadError", () => {
  const cause = new Error("root");
  const e = new HandlerLoadError("cannot import handler /x.js: Error: root", { path: "/x.js", details: "stack", cause });
  assert.ok(e instanceof Error);
  assert.equal(e.name, "HandlerLoadError");
  assert.equal(e.message, "cannot import handler /x.js: Error: root");
  assert.equal(e.path, "/x.js");
  assert.equal(e.details, "stack");
  assert.equal(e.cause, cause);
  const bare = new HandlerLoadError("m");
  assert.deepEqual([bare.path, bare.details], [null, null]);
});
