// Types of the Node-only harness ("ferry/harness").
import type { HandlerClass, InterfaceName } from "../index.js";

/** Package directory of a LetsData project. */
export declare const LETSDATA_PACKAGE: "letsdata_interfaces";

export interface LoadedHandler {
  /** The path given to loadHandler, resolved. */
  path: string;
  /** The directory the handler's files are relative to. */
  root: string;
  /** "file" (a file or a directory with handler.js) or "letsdata" (a LetsData project). */
  kind: "file" | "letsdata";
  /** The imported source files. */
  files: string[];
  /** Interface name -> handler class. */
  classes: Map<InterfaceName, HandlerClass>;
  /** Interface name -> the one instance serving it. */
  interfaces: Map<InterfaceName, any>;
}

/** Load a handler file or directory; rejects with a HandlerLoadError. */
export declare function loadHandler(handlerPath: string): Promise<LoadedHandler>;

export interface RecordOutcome {
  status: "SUCCESS" | "ERROR" | "SKIP" | "EXCEPTION";
  /** The flat JSON string of the returned document, or null. */
  document: string | null;
  message: unknown;
  exception?: { type: string; message: string; retryable: boolean; traceback: string | null };
  /** extractDocumentElementsForVectorization: its element name -> text. */
  elements?: Record<string, string>;
}

/** Call parser.parseDocument on one record and classify the outcome. */
export declare function runRecord(
  parser: { parseDocument(...args: any[]): unknown },
  fileType: unknown,
  fileName: string,
  offset: number,
  record: Uint8Array,
): Promise<RecordOutcome>;

/** The stdout line of one outcome; `position` names `offset` ("offset", the default, or "line"). */
export declare function outcomeLine(
  fileName: string,
  offset: number,
  outcome: RecordOutcome,
  position?: "offset" | "line",
): string;

/** A `--function` choice. */
export type FunctionName =
  | "QueueMessageReader.parseMessage"
  | "KinesisRecordReader.parseMessage"
  | "DynamoDBStreamsRecordReader.parseRecord"
  | "DynamoDBTableItemReader.parseDynamoDBItem"
  | "SagemakerVectorsInterface.extractDocumentElementsForVectorization"
  | "SagemakerVectorsInterface.constructVectorDoc";

/** `--function` choice -> its interface, method, arguments from one line's `data`, and result classification. */
export declare const FUNCTIONS: Readonly<
  Record<
    FunctionName,
    {
      interfaceName: InterfaceName;
      method: string;
      args(data: Record<string, unknown>): unknown[];
      outcome(result: unknown, method: string): RecordOutcome;
    }
  >
>;

/**
 * Call `fn` of `handler` with the arguments of one LetsData `data` object and
 * classify the outcome; rejects with an InputError when `data` is not that
 * function's data.
 */
export declare function runCall(handler: object, fn: FunctionName, data: Record<string, unknown>): Promise<RecordOutcome>;

/** A line of `--function` input that is not the data of the call. */
export declare class InputError extends Error {}

/** The type name of a thrown value (like Python's type(exc).__name__). */
export declare function errorTypeName(err: unknown): string;

export interface Writer {
  write(text: string): unknown;
}

/** Run the harness; resolves to the exit status (0, 1 or 2). */
export declare function main(argv?: string[], io?: { stdout?: Writer; stderr?: Writer }): Promise<number>;
