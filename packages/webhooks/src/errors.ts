/**
 * What went wrong, as a stable string a caller can switch on.
 * - `invalid_source`: a webhook source definition is not valid; `issues` says where and why.
 * - `not_found`: no source has that id (store `update`).
 * - `conflict`: a source with that id exists already (store `create` with a fixed id).
 * - `unavailable`: the store could not be reached (retryable).
 * - `closed`: the store was used after `close()`.
 * - `missing_dependency`: the driver's client library (better-sqlite3, pg) is not installed.
 */
export type WebhooksErrorCode =
  | "invalid_source"
  | "not_found"
  | "conflict"
  | "unavailable"
  | "closed"
  | "missing_dependency";

/** One problem in a source definition: where it is and what is wrong there. */
export interface WebhooksIssue {
  /** Where, like `verify.secret` or `transform.name` (`webhooks[2].verify.scheme` in a file). */
  path: string;
  /** What is wrong and what is allowed. */
  message: string;
}

/** Options of {@link WebhooksError}. */
export interface WebhooksErrorOptions {
  issues?: WebhooksIssue[];
  /** The driver that raised it (`memory`, `sqlite`, `postgres`), if any. */
  driver?: string;
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/webhooks.WebhooksError");

/**
 * The one error class of `@evt/webhooks`: bad source definitions (every problem in `issues`)
 * and store failures. Handling a request never throws it: {@link handleWebhook} answers with a
 * typed failure instead.
 *
 * @example
 * ```ts
 * import { validateSource, WebhooksError } from "@evt/webhooks";
 * try {
 *   validateSource({ name: "x", verify: { scheme: "svix" } });
 * } catch (err) {
 *   if (err instanceof WebhooksError) err.issues; // [{ path: "verify.secret", message: "..." }]
 * }
 * ```
 */
export class WebhooksError extends Error {
  override readonly name = "WebhooksError";
  readonly code: WebhooksErrorCode;
  readonly issues: WebhooksIssue[];
  readonly driver: string | undefined;
  /** Whether the same call may succeed later (`unavailable`). */
  readonly retryable: boolean;

  constructor(code: WebhooksErrorCode, message: string, options: WebhooksErrorOptions = {}) {
    const where = options.driver ? `[${options.driver}] ` : "";
    super(
      `[evt/webhooks] ${where}${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.issues = options.issues ?? [];
    this.driver = options.driver;
    this.retryable = code === "unavailable";
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` holds across the ESM and CJS builds and the subpath entries (a global brand). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/** The error for a list of issues, listing them all in the message. */
export function invalidSource(what: string, issues: WebhooksIssue[]): WebhooksError {
  const list = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  const head = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
  return new WebhooksError("invalid_source", `${head} in ${what}: ${list}`, { issues });
}
