/**
 * Errors of the ferry SDK. Engine-neutral: no Node APIs.
 */

/**
 * Throw from a handler method to report a *retryable* failure.
 *
 * The bridge treats any thrown value `err` with `err.retryable === true` as
 * retryable (so you may also set `retryable = true` on your own error
 * classes); everything else is a non-retryable failure of the record.
 */
export class RetryableError extends Error {
  constructor(message, options) {
    super(message);
    this.name = new.target.name;
    /** Always true. */
    this.retryable = true;
    if (options && typeof options === "object" && "cause" in options) this.cause = options.cause;
  }
}

/**
 * The handler could not be loaded.
 *
 * The message names the handler file (or directory) when it is known, and the
 * cause. `path` is that file or directory (null when unknown); `details` is
 * the stack of the underlying error (null when there is none), which is also
 * kept as `cause`.
 */
export class HandlerLoadError extends Error {
  constructor(message, { path = null, details = null, cause } = {}) {
    super(message);
    this.name = new.target.name;
    this.path = path;
    this.details = details;
    if (cause !== undefined) this.cause = cause;
  }
}
