import type { EventIssue } from "./types";

/** What kind of problem an {@link EvtSchemaError} reports. */
export type EvtSchemaErrorCode =
  | "invalid_event"
  | "invalid_request"
  | "invalid_seed"
  | "invalid_catalog";

/** Options of {@link EvtSchemaError}. */
export interface EvtSchemaErrorOptions {
  /** The per-event problems, when the error is about events. */
  issues?: EventIssue[];
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/schema.EvtSchemaError");

/**
 * The one error class of `@evt/schema`. Validation functions return issues instead of
 * throwing; this error is for callers that want an exception (e.g. the client's `send`) and
 * for misuse such as a bad catalog or seed.
 *
 * @example
 * ```ts
 * import { EvtSchemaError, formatIssues, parseEvents } from "@evt/schema";
 * const result = parseEvents({ name: "" });
 * if (!result.ok) {
 *   const err = new EvtSchemaError("invalid_event", formatIssues(result.issues), { issues: result.issues });
 *   err.message; // "[evt/schema] 1 invalid event: events[0].name: ..."
 * }
 * ```
 */
export class EvtSchemaError extends Error {
  override readonly name = "EvtSchemaError";
  readonly code: EvtSchemaErrorCode;
  readonly issues?: EventIssue[];

  constructor(code: EvtSchemaErrorCode, message: string, options: EvtSchemaErrorOptions = {}) {
    super(
      message.startsWith("[evt/schema]") ? message : `[evt/schema] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    if (options.issues !== undefined) this.issues = options.issues;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof EvtSchemaError` holds across copies of this class (the ESM and CJS builds each bundle
   * their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}
