/**
 * Reader results and record-delimiting hints.
 *
 * - {@link ParseDocumentResult} is what every reader method returns
 *   (`parseDocument`, `parseMessage`, `parseRecord`, `parseDynamoDBItem`).
 * - {@link RecordParseHint} is what `SingleFileParser.getRecordStartPattern` /
 *   `getRecordEndPattern` return; it tells the task host how to cut a file into
 *   records (see records.js for the exact rules).
 *
 * Engine-neutral: no Node APIs.
 */

/**
 * Outcome of parsing one record; the value equals the name.
 *
 * SUCCESS: `document` is a Document to write. ERROR: `document` is an ErrorDoc
 * for the error destination. SKIP: `document` is a SkipDoc (or null); nothing
 * is written.
 */
export const ParseDocumentResultStatus = Object.freeze({
  SUCCESS: "SUCCESS",
  ERROR: "ERROR",
  SKIP: "SKIP",
});

/**
 * Result of a reader call: `(nextRecordType, document, status)`.
 *
 * `nextRecordType` is null for the stateless JavaScript interfaces (it carries
 * the next state of the Java state-machine parsers).
 */
export class ParseDocumentResult {
  constructor(nextRecordType = null, document = null, status = null) {
    this.nextRecordType = nextRecordType;
    this.document = document;
    this.status = status;
    if (new.target === ParseDocumentResult) Object.preventExtensions(this);
  }

  getNextRecordType() {
    return this.nextRecordType;
  }

  getDocument() {
    return this.document;
  }

  getStatus() {
    return this.status;
  }
}

/** How a record boundary is found: by a byte PATTERN or a byte OFFSET. */
export const RecordHintType = Object.freeze({
  OFFSET: "OFFSET",
  PATTERN: "PATTERN",
});

/**
 * A record start or end delimiter.
 *
 * `new RecordParseHint(RecordHintType.PATTERN, "<delimiter>", -1)` delimits by
 * a string (matched as its UTF-8 bytes); `new RecordParseHint(
 * RecordHintType.OFFSET, null, n)` by a byte count. `getPattern()` is only
 * valid for PATTERN hints and `getOffset()` only for OFFSET hints (otherwise
 * they throw).
 */
export class RecordParseHint {
  constructor(recordHintType, pattern = null, offset = -1) {
    this.recordHintType = recordHintType;
    this.pattern = pattern;
    this.offset = offset;
    if (new.target === RecordParseHint) Object.preventExtensions(this);
  }

  /** A PATTERN hint for `pattern` (offset is -1). */
  static ofPattern(pattern) {
    return new this(RecordHintType.PATTERN, pattern, -1);
  }

  /** An OFFSET hint of `offset` bytes (pattern is null). */
  static ofOffset(offset) {
    return new this(RecordHintType.OFFSET, null, offset);
  }

  getRecordHintType() {
    return this.recordHintType;
  }

  /** The delimiter string; throws unless this is a PATTERN hint. */
  getPattern() {
    if (this.recordHintType !== RecordHintType.PATTERN) {
      throw new Error(
        `getPattern() called on a ${String(this.recordHintType)} hint; it is only valid for PATTERN`,
      );
    }
    return this.pattern;
  }

  /** The byte count; throws unless this is an OFFSET hint. */
  getOffset() {
    if (this.recordHintType !== RecordHintType.OFFSET) {
      throw new Error(
        `getOffset() called on a ${String(this.recordHintType)} hint; it is only valid for OFFSET`,
      );
    }
    return this.offset;
  }
}
