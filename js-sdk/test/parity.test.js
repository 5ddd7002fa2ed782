// The same handler logic written in Python and in JavaScript gives the same
// harness output (records, documents, messages). Skipped when python3 or the
// Python SDK (../python-sdk/src) is not available.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const SDK_DIR = fileURLToPath(new URL("..", import.meta.url));
const PY_SRC = path.resolve(SDK_DIR, "..", "python-sdk", "src");
const HARNESS = path.join(SDK_DIR, "src", "harness.js");
const INDEX_URL = new URL("../index.js", import.meta.url).href;

const PY_HANDLER = `
import json
from ferry import (Document, DocumentType, ErrorDoc, ParseDocumentResult, ParseDocumentResultStatus,
                   RecordParseHint, SingleFileParser, SkipDoc)

class Wet(SingleFileParser):
    def getS3FileType(self):
        return "WET"

    def getResolvedS3FileName(self, s3FileType, fileName):
        return "s3://bucket/" + fileName

    def getRecordStartPattern(self, s3FileType):
        return RecordParseHint.of_pattern("WARC-Type: conversion")

    def getRecordEndPattern(self, s3FileType):
        return RecordParseHint.of_pattern("\\n\\r\\n\\r\\n")

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        text = bytes(byteArr[startIndex:endIndex]).decode("utf-8")
        head, _, body = text.partition("\\n\\n")
        headers = {}
        for line in head.split("\\n")[1:]:
            key, _, value = line.partition(": ")
            headers[key] = value
        url = headers.get("WARC-Target-URI")
        offsets = ({s3FileType: str(offsetBytes)}, {s3FileType: str(offsetBytes + endIndex)})
        if url is None:
            doc = ErrorDoc(None, "Content", None, {"file": s3Filename}, {"raw": text}, offsets[0], offsets[1],
                           "no WARC-Target-URI")
            return ParseDocumentResult(None, doc, ParseDocumentResultStatus.ERROR)
        if not body.strip():
            return ParseDocumentResult(None, SkipDoc(url, "Content", url, None, None, offsets[0], offsets[1], "empty body: " + url),
                                       ParseDocumentResultStatus.SKIP)
        meta = json.loads(headers.get("Meta", "{}"))
        doc = Document(DocumentType.Document, url, "Content", url, {"offset": offsetBytes, "file": s3Filename},
                       {"docText": body.strip(), "url": url, "length": endIndex, "meta": meta, "documentId": "ignored",
                        "flags": [True, False, None], "language": headers.get("Lang")})
        return ParseDocumentResult(None, doc, ParseDocumentResultStatus.SUCCESS)
`;

const JS_HANDLER = `
import { Document, DocumentType, ErrorDoc, ParseDocumentResult, ParseDocumentResultStatus,
         RecordParseHint, SingleFileParser, SkipDoc } from ${JSON.stringify(INDEX_URL)};

export class Wet extends SingleFileParser {
  getS3FileType() {
    return "WET";
  }

  getResolvedS3FileName(s3FileType, fileName) {
    return "s3://bucket/" + fileName;
  }

  getRecordStartPattern(s3FileType) {
    return RecordParseHint.ofPattern("WARC-Type: conversion");
  }

  getRecordEndPattern(s3FileType) {
    return RecordParseHint.ofPattern("\\n\\r\\n\\r\\n");
  }

  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    const text = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex));
    const split = text.indexOf("\\n\\n");
    const head = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? "" : text.slice(split + 2);
    const headers = {};
    for (const line of head.split("\\n").slice(1)) {
      const i = line.indexOf(": ");
      if (i < 0) headers[line] = "";
      else headers[line.slice(0, i)] = line.slice(i + 2);
    }
    const url = headers["WARC-Target-URI"];
    const start = { [s3FileType]: String(offsetBytes) };
    const end = { [s3FileType]: String(offsetBytes + endIndex) };
    if (url === undefined) {
      const doc = new ErrorDoc(null, "Content", null, { file: s3Filename }, { raw: text }, start, end, "no WARC-Target-URI");
      return new ParseDocumentResult(null, doc, ParseDocumentResultStatus.ERROR);
    }
    if (!body.trim()) {
      return new ParseDocumentResult(null, new SkipDoc(url, "Content", url, null, null, start, end, "empty body: " + url),
                                     ParseDocumentResultStatus.SKIP);
    }
    const meta = JSON.parse(headers.Meta ?? "{}");
    const doc = new Document(DocumentType.Document, url, "Content", url, { offset: offsetBytes, file: s3Filename },
                             { docText: body.trim(), url, length: endIndex, meta, documentId: "ignored",
                               flags: [true, false, null], language: headers.Lang ?? null });
    return new ParseDocumentResult(null, doc, ParseDocumentResultStatus.SUCCESS);
  }
}
`;

function record(url, body, extra = "") {
  const lines = ["WARC/1.0", "WARC-Type: conversion"];
  if (url !== null) lines.push(`WARC-Target-URI: ${url}`);
  if (extra) lines.push(extra);
  return lines.join("\n") + "\n\n" + body + "\n\r\n\r\n";
}

const SAMPLE =
  "garbage before the first record\n" +
  record("http://a.example/é", "Héllo wörld ☃ 😀", 'Meta: {"z":1,"a":{"y":[1,2],"b":"ü"}}\nLang: de') +
  record(null, "no url here") +
  "WARC/1.0\nWARC-Type: warcinfo\n\n" +
  record("http://b.example/", "   ") +
  record("http://c.example/\u0000x", 'tab\tquote" backslash\\ ctrl\u0001 line\u2028sep') +
  "WARC-Type: conversion\nWARC-Target-URI: http://d.example/\n\ntrailing record without end";

function pythonAvailable() {
  const res = spawnSync("python3", ["-c", "import ferry.harness"], {
    env: { ...process.env, PYTHONPATH: PY_SRC },
    encoding: "utf8",
  });
  return res.status === 0;
}

test("Python and JavaScript handlers give the same harness output", (t) => {
  if (!fs.existsSync(PY_SRC) || !pythonAvailable()) {
    t.skip("python3 with the ferry Python SDK is not available");
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-parity-"));
  try {
    fs.writeFileSync(path.join(dir, "handler.py"), PY_HANDLER);
    fs.writeFileSync(path.join(dir, "handler.mjs"), JS_HANDLER);
    fs.writeFileSync(path.join(dir, "sample.wet"), SAMPLE);
    fs.writeFileSync(path.join(dir, "sample.wet.gz"), zlib.gzipSync(Buffer.from(SAMPLE)));
    const files = ["sample.wet", "sample.wet.gz"];
    const py = spawnSync("python3", ["-m", "ferry.harness", "--handler", "handler.py", "--documents", "py.jsonl", ...files], {
      cwd: dir,
      env: { ...process.env, PYTHONPATH: PY_SRC },
      encoding: "utf8",
      timeout: 60_000,
    });
    const js = spawnSync(process.execPath, [HARNESS, "--handler", "handler.mjs", "--documents", "js.jsonl", ...files], {
      cwd: dir,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(py.status, 0, py.stderr);
    assert.equal(js.status, 0, js.stderr);
    const pyLines = py.stdout.trim().split("\n");
    const jsLines = js.stdout.trim().split("\n");
    assert.equal(pyLines.length, 10);
    assert.deepEqual(
      pyLines.map((l) => JSON.parse(l).status),
      ["SUCCESS", "ERROR", "SKIP", "SUCCESS", "SUCCESS", "SUCCESS", "ERROR", "SKIP", "SUCCESS", "SUCCESS"],
    );
    // byte-for-byte the same lines, documents and summary
    assert.deepEqual(jsLines, pyLines);
    assert.equal(
      fs.readFileSync(path.join(dir, "js.jsonl"), "utf8"),
      fs.readFileSync(path.join(dir, "py.jsonl"), "utf8"),
    );
    const summary = (text) => text.trim().split("\n").at(-1);
    assert.equal(summary(js.stderr), summary(py.stderr));
    assert.equal(summary(js.stderr), "10 records: 6 documents, 2 errors, 2 skipped, 0 exceptions");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const CONFORMANCE_DIR = path.resolve(SDK_DIR, "..", "tests", "conformance");

/** One input file of `--function` per function: LetsData request data, a line per call. */
const CALLS = {
  "QueueMessageReader.parseMessage": [
    { messageId: "m-1", messageAttributes: { zeta: "z", alpha: "ü" }, messageBody: "doc:d1" },
    { messageId: "m-2", messageGroupId: "g", messageDeduplicationId: "dd", messageAttributes: {}, messageBody: "doc:d2" },
    { messageId: "m-3", messageAttributes: {}, messageBody: "skip:duplicate" },
    { messageId: "m-4", messageAttributes: {}, messageBody: "error:not JSON" },
    { messageId: "m-5", messageAttributes: {}, messageBody: "raise:bad message" },
    { messageId: "m-6", messageAttributes: {}, messageBody: "retry:busy" },
    { messageId: "m-7", messageAttributes: {}, messageBody: "invalid" },
    { messageId: "m-8", messageAttributes: {}, messageBody: "skipnone" },
  ],
  "KinesisRecordReader.parseMessage": [
    { data: "doc:k-1" },
    { data: "bin:ü" },
    { data: "skip:dup" },
  ].map((line, index) => ({
    streamArn: "arn:aws:kinesis:us-east-1:1:stream/s",
    shardId: "shardId-000000000001",
    partitionKey: "pk",
    sequenceNumber: `4964${index}`,
    approximateArrivalTimestamp: 1701785944187,
    ...line,
  })),
  "DynamoDBStreamsRecordReader.parseRecord": [
    { eventId: "doc", data: { keys: { id: "a", n: 2 }, newImage: { id: "a", v: 1.5, tags: ["x"] } } },
    { eventId: "doc", identityPrincipalId: "dynamodb.amazonaws.com", identityType: "Service", data: { keys: { id: "b" } } },
    { eventId: "error:bad image", data: {} },
  ].map((line) => ({
    streamArn: "arn:aws:dynamodb:us-east-1:1:table/T/stream/x",
    shardId: "shard-1",
    eventName: "MODIFY",
    sequenceNumber: "0042",
    sizeBytes: 321,
    streamViewType: "NEW_AND_OLD_IMAGES",
    approximateCreationDateTime: 1702839323,
    ...line,
  })),
  "DynamoDBTableItemReader.parseDynamoDBItem": [
    { tableName: "doc:p-1", segmentNumber: 2, data: { keys: { id: "x", sk: 7 }, item: { id: "x", q: 3 } } },
    { tableName: "skip:empty", segmentNumber: 3, data: { keys: { id: "y" } } },
  ],
  "SagemakerVectorsInterface.extractDocumentElementsForVectorization": [
    { document: { documentId: "d", command: "elements", textA: "alpha", textB: "βeta", other: 1 } },
    { document: { documentId: "d", command: "raise:no text" } },
  ],
  "SagemakerVectorsInterface.constructVectorDoc": [
    {
      documentInterface: {
        documentId: "d",
        partitionKey: "p",
        documentMetadata: { m: 1 },
        command: "vectors",
        textA: "alpha",
        url: "u",
      },
      vectorsMap: { textA: [0.5, -1.5, 0.25] },
    },
    { documentInterface: { documentId: "d", command: "error:no vectors" }, vectorsMap: {} },
  ],
};

/** A harness line without its traceback, which each language renders its own way. */
function withoutTraceback(line) {
  const outcome = JSON.parse(line);
  if (outcome.exception) outcome.exception.traceback = null;
  return JSON.stringify(outcome);
}

test("Python and JavaScript conformance handlers give the same --function harness output", (t) => {
  if (!fs.existsSync(PY_SRC) || !pythonAvailable()) {
    t.skip("python3 with the ferry Python SDK is not available");
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-parity-"));
  try {
    // The twins of tests/conformance; the JavaScript one imports this SDK by URL.
    const js = fs.readFileSync(path.join(CONFORMANCE_DIR, "handler.mjs"), "utf8").replace('from "ferry"', `from ${JSON.stringify(INDEX_URL)}`);
    fs.writeFileSync(path.join(dir, "handler.mjs"), js);
    fs.copyFileSync(path.join(CONFORMANCE_DIR, "handler.py"), path.join(dir, "handler.py"));
    for (const [fn, calls] of Object.entries(CALLS)) {
      const input = `${fn}.jsonl`;
      fs.writeFileSync(path.join(dir, input), calls.map((data) => JSON.stringify(data)).join("\n") + "\n\n");
      const run = (command, args, env) =>
        spawnSync(command, [...args, "--function", fn, "--documents", "docs.jsonl", input], {
          cwd: dir,
          env,
          encoding: "utf8",
          timeout: 60_000,
        });
      const py = run("python3", ["-m", "ferry.harness", "--handler", "handler.py"], { ...process.env, PYTHONPATH: PY_SRC });
      const pyDocuments = fs.readFileSync(path.join(dir, "docs.jsonl"), "utf8");
      const jsRun = run(process.execPath, [HARNESS, "--handler", "handler.mjs"], process.env);
      assert.equal(py.status, 0, py.stderr);
      assert.equal(jsRun.status, 0, jsRun.stderr);
      const lines = (text) => text.trim().split("\n").map(withoutTraceback);
      assert.equal(lines(py.stdout).length, calls.length, fn);
      assert.deepEqual(lines(jsRun.stdout), lines(py.stdout), fn);
      assert.equal(fs.readFileSync(path.join(dir, "docs.jsonl"), "utf8"), pyDocuments, fn);
      assert.equal(jsRun.stderr.trim().split("\n").at(-1), py.stderr.trim().split("\n").at(-1), fn);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
