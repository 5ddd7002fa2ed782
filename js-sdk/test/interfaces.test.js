// The six interface base classes: LetsData's method names, parameter names
// and order (the bridge passes arguments by position), the same in the
// .d.ts, and "Not Yet Implemented" for every method a handler does not
// override.
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

import * as ferry from "../index.js";

/** Interface -> method -> parameter names, as LetsData declares them. */
const CONTRACT = {
  SingleFileParser: {
    getS3FileType: [],
    getResolvedS3FileName: ["s3FileType", "fileName"],
    getRecordStartPattern: ["s3FileType"],
    getRecordEndPattern: ["s3FileType"],
    parseDocument: ["s3FileType", "s3Filename", "offsetBytes", "byteArr", "startIndex", "endIndex"],
  },
  QueueMessageReader: {
    parseMessage: ["messageId", "messageGroupId", "messageDeduplicationId", "messageAttributes", "messageBody"],
  },
  KinesisRecordReader: {
    parseMessage: ["streamArn", "shardId", "partitionKey", "sequenceNumber", "approximateArrivalTimestamp", "data"],
  },
  DynamoDBStreamsRecordReader: {
    parseRecord: [
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
    ],
  },
  DynamoDBTableItemReader: {
    parseDynamoDBItem: ["tableName", "segmentNumber", "keys", "item"],
  },
  SagemakerVectorsInterface: {
    extractDocumentElementsForVectorization: ["document"],
    constructVectorDoc: ["documentInterface", "vectorsMap"],
  },
};

/** The parameter names of a method, from its source. */
function parameters(method) {
  const source = method.toString();
  const list = source.slice(source.indexOf("(") + 1, source.indexOf(")"));
  return list
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
}

const DTS = fs.readFileSync(new URL("../index.d.ts", import.meta.url), "utf8");

/** The parameter names of `interfaceName.method` in index.d.ts (comments and type arguments dropped). */
function declaredParameters(interfaceName, method) {
  const body = DTS.slice(DTS.indexOf(`export declare class ${interfaceName} {`));
  const start = body.indexOf(`  ${method}(`);
  assert.ok(start >= 0, `${interfaceName}.${method} is declared`);
  const list = body.slice(start + method.length + 3, body.indexOf("):", start));
  return list
    .replace(/\/\*\*[^]*?\*\//g, "")
    .replace(/<[^<>]*>/g, "")
    .split(",")
    .map((parameter) => parameter.split(":")[0].trim())
    .filter(Boolean);
}

test("the interface names are the six LetsData names, in a fixed order", () => {
  assert.deepEqual([...ferry.INTERFACE_NAMES], Object.keys(CONTRACT));
  for (const name of ferry.INTERFACE_NAMES) {
    assert.equal(ferry.INTERFACE_CLASSES[name], ferry[name]);
    assert.equal(ferry[name][ferry.INTERFACE_MARK], name);
  }
});

for (const [interfaceName, methods] of Object.entries(CONTRACT)) {
  test(`${interfaceName} has LetsData's methods and parameters, in the code and in the .d.ts`, () => {
    const prototype = ferry[interfaceName].prototype;
    const own = Object.getOwnPropertyNames(prototype).filter((name) => name !== "constructor");
    assert.deepEqual(own, Object.keys(methods));
    for (const [method, names] of Object.entries(methods)) {
      assert.deepEqual(parameters(prototype[method]), names, `${interfaceName}.${method}`);
      assert.deepEqual(declaredParameters(interfaceName, method), names, `${interfaceName}.${method} in index.d.ts`);
    }
  });

  test(`${interfaceName}: a method the handler does not override throws Not Yet Implemented`, async () => {
    class Handler extends ferry[interfaceName] {}
    const handler = new Handler();
    for (const [method, names] of Object.entries(methods)) {
      assert.throws(() => handler[method](...names.map(() => null)), {
        name: "Error",
        message: ferry.NOT_YET_IMPLEMENTED,
      });
    }
    // A subclass is found by inheritance under any export name.
    const found = ferry.findHandlers({ [Symbol.toStringTag]: "Module", anyName: Handler });
    assert.deepEqual([...found], [[interfaceName, Handler]]);
  });
}
