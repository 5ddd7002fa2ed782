import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const SDK_DIR = fileURLToPath(new URL("..", import.meta.url));
const HARNESS = path.join(SDK_DIR, "src", "harness.js");
const INDEX_URL = new URL("../index.js", import.meta.url).href;

// Imports the SDK by its package name, through node_modules/ferry (a symlink to the SDK).
const HANDLER = `
import {
  Document, DocumentType, ErrorDoc, ParseDocumentResult, ParseDocumentResultStatus,
  RecordParseHint, SingleFileParser, SkipDoc,
} from "ferry";

export class JsonLinesParser extends SingleFileParser {
  getS3FileType() {
    return "JSONL";
  }

  getResolvedS3FileName(s3FileType, fileName) {
    return "bucket/" + fileName;
  }

  getRecordStartPattern(s3FileType) {
    return RecordParseHint.ofOffset(0);
  }

  getRecordEndPattern(s3FileType) {
    return RecordParseHint.ofPattern("\\n");
  }

  parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
    if (!(byteArr instanceof Uint8Array) || startIndex !== 0 || endIndex !== byteArr.length || byteArr.byteOffset !== 0) {
      throw new Error("bad arguments");
    }
    const text = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex));
    let obj;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      return new ParseDocumentResult(
        null,
        new ErrorDoc(null, "Line", null, null, { raw: text }, { [s3FileType]: String(offsetBytes) },
                     { [s3FileType]: String(offsetBytes + endIndex) }, "not json: " + err.message),
        ParseDocumentResultStatus.ERROR,
      );
    }
    if (obj.skip) {
      return new ParseDocumentResult(null, SkipDoc.of({ skipMessage: "skipped on purpose" }), ParseDocumentResultStatus.SKIP);
    }
    if (obj.raise) {
      throw new RangeError("boom");
    }
    return new ParseDocumentResult(
      null,
      new Document(DocumentType.Document, obj.id, "Line", obj.id, null, { value: obj.v, file: s3FileType }),
      ParseDocumentResultStatus.SUCCESS,
    );
  }
}
`;

const SAMPLE = Buffer.from('{"id":"a","v":"\xc3\xa9"}\n{"skip":true}\nnot json\n{"raise":true}\n', "latin1");

let dir;

function write(rel, text) {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function run(args, cwd = dir) {
  const res = spawnSync(process.execPath, [HARNESS, ...args], { cwd, encoding: "utf8", timeout: 60_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const lines = (stdout) =>
  stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
const lastLine = (text) => text.trim().split("\n").at(-1);

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-harness-"));
  fs.mkdirSync(path.join(dir, "node_modules"));
  fs.symlinkSync(SDK_DIR, path.join(dir, "node_modules", "ferry"), "dir");
  write("package.json", '{"type": "module"}\n');
  write("handler.js", HANDLER);
  fs.writeFileSync(path.join(dir, "sample.jsonl"), SAMPLE);
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test("outcomes: good, skip, error and throwing records", () => {
  const res = run(["--handler", "handler.js", "--documents", "out.jsonl", "sample.jsonl"]);
  assert.equal(res.code, 0, res.stderr);
  const out = lines(res.stdout);
  assert.deepEqual(
    out.map((l) => l.status),
    ["SUCCESS", "SKIP", "ERROR", "EXCEPTION"],
  );
  assert.deepEqual(
    out.map((l) => l.offset),
    [0, 20, 34, 43],
  );
  assert.ok(out.every((l) => l.file === "sample.jsonl"));
  for (const l of out) {
    const keys = ["file", "offset", "status", "document", "message"];
    assert.deepEqual(Object.keys(l), l.status === "EXCEPTION" ? [...keys, "exception"] : keys);
  }

  const [ok, skip, err, exc] = out;
  assert.deepEqual(ok.document, {
    documentId: "a",
    recordType: "Line",
    partitionKey: "a",
    documentMetadata: {},
    value: "é",
    file: "JSONL",
  });
  assert.deepEqual(Object.keys(ok.document), ["documentId", "recordType", "partitionKey", "documentMetadata", "value", "file"]);
  assert.equal(ok.message, null);
  assert.equal(skip.message, "skipped on purpose");
  assert.ok(err.message.startsWith("not json: "), err.message);
  assert.equal(err.document.raw, "not json\n");
  assert.equal(exc.document, null);
  assert.equal(exc.message, "RangeError: boom");
  assert.deepEqual(Object.keys(exc.exception), ["type", "message", "retryable", "traceback"]);
  assert.equal(exc.exception.type, "RangeError");
  assert.equal(exc.exception.message, "boom");
  assert.equal(exc.exception.retryable, false);
  assert.match(exc.exception.traceback, /RangeError: boom/);
  assert.match(exc.exception.traceback, /handler\.js/);

  assert.equal(lastLine(res.stderr), "4 records: 1 documents, 1 errors, 1 skipped, 1 exceptions");
  assert.match(res.stderr, /sample\.jsonl: s3FileType=JSONL resolvedS3FileName=bucket\/sample\.jsonl/);
  assert.equal(
    fs.readFileSync(path.join(dir, "out.jsonl"), "utf8"),
    '{"documentId":"a","recordType":"Line","partitionKey":"a","documentMetadata":{},"value":"é","file":"JSONL"}\n',
  );
});

test("limit, gzip, several files and a handler directory", () => {
  fs.writeFileSync(path.join(dir, "sample.jsonl.gz"), zlib.gzipSync(SAMPLE));
  let res = run(["--handler", dir, "sample.jsonl.gz", "sample.jsonl"]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(
    lines(res.stdout).map((l) => [l.file, l.status]),
    [
      ["sample.jsonl.gz", "SUCCESS"],
      ["sample.jsonl.gz", "SKIP"],
      ["sample.jsonl.gz", "ERROR"],
      ["sample.jsonl.gz", "EXCEPTION"],
      ["sample.jsonl", "SUCCESS"],
      ["sample.jsonl", "SKIP"],
      ["sample.jsonl", "ERROR"],
      ["sample.jsonl", "EXCEPTION"],
    ],
  );
  assert.equal(lastLine(res.stderr), "8 records: 2 documents, 2 errors, 2 skipped, 2 exceptions");

  res = run(["--handler", "handler.js", "--limit", "2", "sample.jsonl", "sample.jsonl.gz"]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(
    lines(res.stdout).map((l) => l.status),
    ["SUCCESS", "SKIP"],
  );
  assert.equal(lastLine(res.stderr), "2 records: 1 documents, 0 errors, 1 skipped, 0 exceptions");
  assert.doesNotMatch(res.stderr, /sample\.jsonl\.gz:/); // the limit was reached before the second file

  res = run(["--handler=handler.js", "--limit=5", "--", "sample.jsonl", "sample.jsonl.gz"]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(lines(res.stdout).length, 5);
});

test("handler load failures exit 1", () => {
  write("broken.js", "import 'ferry';\nfunction broken(: {\n}\n");
  let res = run(["--handler", "broken.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.equal(res.stdout, "");
  const broken = fs.realpathSync(path.join(dir, "broken.js"));
  assert.ok(res.stderr.includes(`cannot import handler ${broken}: SyntaxError: Unexpected token ':' (at ${broken}:2)`), res.stderr);
  assert.ok(res.stderr.includes("function broken(: {\n"), res.stderr); // the code frame

  write("throws_at_load.js", "throw new TypeError('no config');\n");
  res = run(["--handler", "throws_at_load.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /cannot import handler .*throws_at_load\.js: TypeError: no config \(at .*throws_at_load\.js:1\)/);

  write("queue_only.js", "import * as ferry from 'ferry';\nexport class Q extends ferry.QueueMessageReader {}\n");
  res = run(["--handler", "queue_only.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /has no SingleFileParser \(it implements: QueueMessageReader\)/);

  write("nothing.js", "export const x = 1;\n");
  res = run(["--handler", "nothing.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /nothing\.js defines no handler class/);

  write(
    "dup.js",
    "import { SingleFileParser } from 'ferry';\nexport class A extends SingleFileParser {}\nexport class B extends SingleFileParser {}\n",
  );
  res = run(["--handler", "dup.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /more than one SingleFileParser handler class: A and B/);

  write(
    "ctor.js",
    "import { SingleFileParser } from 'ferry';\nexport class P extends SingleFileParser { constructor() { super(); throw new Error('ctor'); } }\n",
  );
  res = run(["--handler", "ctor.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /cannot instantiate handler class P from .*ctor\.js: Error: ctor/);

  res = run(["--handler", "missing_handler.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /handler path .*missing_handler\.js does not exist/);

  fs.mkdirSync(path.join(dir, "empty_dir"), { recursive: true });
  res = run(["--handler", "empty_dir", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /contains neither handler\.js nor handler\.mjs nor a letsdata_interfaces\/ directory/);

  res = run(["--handler", "sample.jsonl", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /is not a \.js\/\.mjs\/\.cjs file/);
});

test("setup failures exit 1", () => {
  write(
    "bad_hint.js",
    `import { SingleFileParser, RecordParseHint } from 'ferry';
     export class P extends SingleFileParser {
       getS3FileType() { return "T"; }
       getRecordStartPattern() { return RecordParseHint.ofOffset(0); }
       getRecordEndPattern() { return RecordParseHint.ofOffset(0); }
     }`,
  );
  let res = run(["--handler", "bad_hint.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /ferry\.harness: record start\/end hints: RangeError: end OFFSET hint must be > 0, got 0/);
  assert.equal(res.stdout, "");

  write("no_type.js", "import { SingleFileParser } from 'ferry';\nexport class P extends SingleFileParser {}\n");
  res = run(["--handler", "no_type.js", "sample.jsonl"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /ferry\.harness: getS3FileType\(\) failed: Error: Not Yet Implemented/);

  fs.writeFileSync(path.join(dir, "corrupt.gz"), "this is not gzip");
  res = run(["--handler", "handler.js", "sample.jsonl", "corrupt.gz"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /ferry\.harness: cannot read corrupt\.gz: Error: incorrect header check/);
  assert.equal(lines(res.stdout).length, 4); // the first file was processed
  assert.equal(lastLine(res.stderr), "4 records: 1 documents, 1 errors, 1 skipped, 1 exceptions");
});

test("bad usage exits 2", () => {
  assert.equal(run(["sample.jsonl"]).code, 2); // --handler missing
  assert.equal(run(["--handler", "handler.js"]).code, 2); // no FILE
  assert.equal(run(["--handler", "handler.js", "--limit", "0", "sample.jsonl"]).code, 2);
  assert.equal(run(["--handler", "handler.js", "--limit", "x", "sample.jsonl"]).code, 2);
  assert.equal(run(["--handler", "handler.js", "--bogus", "sample.jsonl"]).code, 2);
  assert.equal(run(["--handler"]).code, 2);
  const res = run(["--handler", "handler.js", "missing.jsonl"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /no such file: missing\.jsonl/);
  assert.match(res.stderr, /^usage: /);
  const help = run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--handler PATH/);
});

test("invalid results and retryable errors are EXCEPTION outcomes", () => {
  write(
    "weird.mjs",
    `import { Document, ParseDocumentResult, ParseDocumentResultStatus, RecordParseHint, RetryableError,
             SingleFileParser } from ${JSON.stringify(INDEX_URL)};

     export class P extends SingleFileParser {
       async getS3FileType() { return "T"; }
       getResolvedS3FileName(s3FileType, fileName) { throw new Error("Not Yet Implemented"); }
       getRecordStartPattern(s3FileType) { return Promise.resolve(RecordParseHint.ofOffset(0)); }
       getRecordEndPattern(s3FileType) { return { recordHintType: "pattern", pattern: "\\n" }; }
       async parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
         const kind = new TextDecoder().decode(byteArr).trim();
         if (kind === "none") return null;
         if (kind === "nodoc") return new ParseDocumentResult(null, null, ParseDocumentResultStatus.SUCCESS);
         if (kind === "bytes") return new ParseDocumentResult(null, Document.of({ documentKeyValuesMap: { b: byteArr } }), "SUCCESS");
         if (kind === "status") return new ParseDocumentResult(null, null, "MAYBE");
         if (kind === "string") throw "plain string";
         if (kind === "lower") return { status: "skip", document: null };
         throw new RetryableError("later");
       }
     }`,
  );
  fs.writeFileSync(path.join(dir, "w.txt"), "none\nnodoc\nbytes\nstatus\nstring\nlower\nretry\n");
  const res = run(["--handler", "weird.mjs", "w.txt"]);
  assert.equal(res.code, 0, res.stderr);
  const out = lines(res.stdout);
  assert.deepEqual(
    out.map((l) => l.status),
    ["EXCEPTION", "EXCEPTION", "EXCEPTION", "EXCEPTION", "EXCEPTION", "SKIP", "EXCEPTION"],
  );
  assert.match(out[0].message, /parseDocument returned null, expected a ParseDocumentResult/);
  assert.equal(out[0].exception.type, "InvalidResult");
  assert.equal(out[0].exception.traceback, null);
  assert.match(out[1].message, /without a document/);
  assert.match(out[2].message, /not JSON-serializable: TypeError: Object of type Uint8Array is not JSON serializable/);
  assert.match(out[3].message, /unknown status "MAYBE"/);
  assert.equal(out[4].message, "string: plain string");
  assert.equal(out[4].exception.traceback, null);
  assert.equal(out[5].document, null);
  assert.equal(out[5].message, null);
  assert.equal(out[6].exception.retryable, true);
  assert.equal(out[6].message, "RetryableError: later");
  assert.match(res.stderr, /resolvedS3FileName=<Error: Not Yet Implemented>/);
  assert.equal(lastLine(res.stderr), "7 records: 0 documents, 0 errors, 1 skipped, 6 exceptions");
});

test("a LetsData project with its own model classes", () => {
  write("proj/package.json", '{"type": "module"}\n');
  write(
    "proj/letsdata_interfaces/readers/model/model.js",
    `export const RecordHintType = Object.freeze({ OFFSET: "OFFSET", PATTERN: "PATTERN" });
     export const ParseDocumentResultStatus = Object.freeze({ SUCCESS: "SUCCESS", ERROR: "ERROR", SKIP: "SKIP" });
     export class RecordParseHint {
       constructor(recordHintType, pattern, offset) {
         this.recordHintType = recordHintType; this.pattern = pattern; this.offset = offset;
       }
     }
     export class Doc {
       constructor(documentId, text) {
         this.documentType = "Document";
         this.documentId = documentId; this.recordType = "Rec"; this.partitionKey = documentId;
         this.documentMetadata = null;
         this.documentKeyValuesMap = { text };
       }
     }
     export class ParseDocumentResult {
       constructor(nextRecordType, document, status) {
         this.nextRecordType = nextRecordType; this.document = document; this.status = status;
       }
     }`,
  );
  write(
    "proj/letsdata_interfaces/readers/parsers/singlefileparser.js",
    `import { RecordHintType, RecordParseHint, ParseDocumentResult, ParseDocumentResultStatus, Doc } from "../model/model.js";
     export class SingleFileParser {
       getS3FileType() { return "WARC"; }
       getResolvedS3FileName(s3FileType, fileName) { return fileName; }
       getRecordStartPattern(s3FileType) { return new RecordParseHint(RecordHintType.PATTERN, "REC ", -1); }
       getRecordEndPattern(s3FileType) { return new RecordParseHint(RecordHintType.PATTERN, ";", -1); }
       parseDocument(s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex) {
         const text = new TextDecoder().decode(byteArr.subarray(startIndex, endIndex));
         return new ParseDocumentResult(null, new Doc(String(offsetBytes), text), ParseDocumentResultStatus.SUCCESS);
       }
     }`,
  );
  write(
    "proj/letsdata_interfaces/readers/sqs/queuemessagereader.js",
    `export class QueueMessageReader {
       parseMessage(messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody) {
         throw new Error("Not Yet Implemented");
       }
     }`,
  );
  // a re-export of the same class is not a second handler
  write("proj/letsdata_interfaces/index.js", 'export { SingleFileParser } from "./readers/parsers/singlefileparser.js";\n');
  fs.writeFileSync(path.join(dir, "in.txt"), "garbage REC one; REC two;tail");
  const res = run(["--handler", "proj", "in.txt"]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(
    lines(res.stdout).map((l) => l.document),
    [
      { documentId: "8", recordType: "Rec", partitionKey: "8", documentMetadata: {}, text: "REC one;" },
      { documentId: "17", recordType: "Rec", partitionKey: "17", documentMetadata: {}, text: "REC two;" },
    ],
  );
});

test("the harness module can be imported without running", async () => {
  const harness = await import("ferry/harness"); // the package self-reference checks the "exports" map
  assert.equal(typeof harness.main, "function");
  assert.equal(typeof harness.loadHandler, "function");
  assert.equal(typeof harness.runRecord, "function");
  const loaded = await harness.loadHandler(path.join(dir, "handler.js"));
  assert.equal(loaded.kind, "file");
  assert.deepEqual([...loaded.interfaces.keys()], ["SingleFileParser"]);
  const parser = loaded.interfaces.get("SingleFileParser");
  const outcome = await harness.runRecord(parser, "JSONL", "x", 7, new TextEncoder().encode('{"id":"z","v":1}\n'));
  assert.deepEqual(outcome, {
    status: "SUCCESS",
    document: '{"documentId":"z","recordType":"Line","partitionKey":"z","documentMetadata":{},"value":1,"file":"JSONL"}',
    message: null,
  });
  assert.equal(
    harness.outcomeLine("f", 7, outcome),
    '{"file":"f","offset":7,"status":"SUCCESS","document":' + outcome.document + ',"message":null}',
  );
  const stdout = [];
  const stderr = [];
  const code = await harness.main(["--handler", path.join(dir, "handler.js"), path.join(dir, "sample.jsonl")], {
    stdout: { write: (t) => stdout.push(t) },
    stderr: { write: (t) => stderr.push(t) },
  });
  assert.equal(code, 0);
  assert.equal(stdout.length, 4);
  assert.equal(lastLine(stderr.join("")), "4 records: 1 documents, 1 errors, 1 skipped, 1 exceptions");
  assert.equal(harness.errorTypeName(new (class MyErr extends Error {})()), "MyErr");
  assert.equal(harness.errorTypeName(Object.assign(new Error("x"), { name: "Custom" })), "Custom");
  assert.equal(harness.errorTypeName(null), "null");
});

const READERS = `
import { Document, ParseDocumentResult, ParseDocumentResultStatus, QueueMessageReader,
         SagemakerVectorsInterface } from "ferry";

export class Queue extends QueueMessageReader {
  async parseMessage(messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody) {
    if (messageBody === "throw") throw new RangeError("cannot read " + messageId);
    const doc = Document.of({
      documentId: messageId,
      documentKeyValuesMap: { messageGroupId, messageDeduplicationId, messageAttributes, messageBody },
    });
    return new ParseDocumentResult(null, doc, ParseDocumentResultStatus.SUCCESS);
  }
}

export class Vectors extends SagemakerVectorsInterface {
  extractDocumentElementsForVectorization(document) {
    return document.bad ? { docText: 1 } : new Map([["docText", document.docText]]);
  }
}
`;

test("--function calls a reader once per JSON line of LetsData request data", () => {
  write("readers.mjs", READERS);
  write(
    "queue.jsonl",
    '{"messageId":"m-1","messageAttributes":{"a":"1"},"messageBody":"hi"}\n\n' +
      '{"messageId":"m-2","messageGroupId":"g","messageBody":"throw"}\n',
  );

  const res = run(["--handler", "readers.mjs", "--function", "QueueMessageReader.parseMessage", "queue.jsonl"]);

  assert.equal(res.code, 0, res.stderr);
  const [first, second] = lines(res.stdout);
  assert.deepEqual(first, {
    file: "queue.jsonl",
    line: 1,
    status: "SUCCESS",
    document: {
      documentId: "m-1",
      recordType: null,
      partitionKey: null,
      documentMetadata: {},
      messageGroupId: null,
      messageDeduplicationId: null,
      messageAttributes: { a: "1" },
      messageBody: "hi",
    },
    message: null,
  });
  assert.equal(second.line, 3); // the blank line counts, as in an editor
  assert.equal(second.status, "EXCEPTION");
  assert.deepEqual(second.document, null);
  assert.equal(second.message, "RangeError: cannot read m-2");
  assert.equal(lastLine(res.stderr), "2 records: 1 documents, 0 errors, 0 skipped, 1 exceptions");
});

test("--function reports element maps, and invalid ones as EXCEPTION", () => {
  write("readers.mjs", READERS);
  write("vectors.jsonl", '{"document":{"docText":"hello"}}\n{"document":{"bad":true}}\n');

  const fn = "SagemakerVectorsInterface.extractDocumentElementsForVectorization";
  const res = run(["--handler", "readers.mjs", "--function", fn, "vectors.jsonl"]);

  assert.equal(res.code, 0, res.stderr);
  const [good, bad] = lines(res.stdout);
  assert.deepEqual(good.elements, { docText: "hello" });
  assert.equal(good.status, "SUCCESS");
  assert.equal(bad.status, "EXCEPTION");
  assert.equal(
    bad.message,
    'extractDocumentElementsForVectorization returned the element "docText": 1; names and texts must be strings',
  );
});

test("--function: input that is not a call's data exits 1, a missing interface 1, an unknown function 2", () => {
  write("readers.mjs", READERS);
  const queue = (file, text) => {
    write(file, text);
    return run(["--handler", "readers.mjs", "--function", "QueueMessageReader.parseMessage", file]);
  };

  const missingKey = queue("missing.jsonl", '{"messageId":"m-1","messageBody":"hi"}\n{"messageId":"m-2"}\n');
  assert.equal(missingKey.code, 1);
  assert.equal(lines(missingKey.stdout).length, 1); // the good line before it ran
  assert.match(missingKey.stderr, /missing\.jsonl:2: the data of QueueMessageReader\.parseMessage has no key 'messageBody'/);
  assert.equal(lastLine(missingKey.stderr), "1 records: 1 documents, 0 errors, 0 skipped, 0 exceptions");

  assert.equal(queue("garbage.jsonl", "not json\n").code, 1);
  assert.match(queue("array.jsonl", "[1]\n").stderr, /array\.jsonl:1: not a JSON object/);

  const kinesis = run(["--handler", "readers.mjs", "--function", "KinesisRecordReader.parseMessage", "array.jsonl"]);
  assert.equal(kinesis.code, 1);
  assert.match(kinesis.stderr, /has no KinesisRecordReader \(it implements: QueueMessageReader, SagemakerVectorsInterface\)/);

  const unknown = run(["--handler", "readers.mjs", "--function", "Queue.parse", "array.jsonl"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /argument --function: invalid choice: 'Queue\.parse'/);
});
