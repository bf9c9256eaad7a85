/**
 * What went wrong, as a stable string a caller can switch on.
 * - `invalid_argument`: the caller passed something the store cannot accept (not retryable).
 * - `unavailable`: the store could not be reached or did not answer in time (retryable).
 * - `closed`: the store was used after `close()` (not retryable).
 * - `full`: the store is at its bound of live keys and refused the claim (memory driver; retryable).
 * - `missing_dependency`: the driver's client library is not installed (not retryable).
 * - `internal`: the backend answered with an unexpected error (not retryable).
 */
export type DedupErrorCode =
  | "invalid_argument"
  | "unavailable"
  | "closed"
  | "full"
  | "missing_dependency"
  | "internal";

/** Options of {@link DedupError}. */
export interface DedupErrorOptions {
  /** Driver that raised the error (`memory`, `sqlite`, `redis`, `postgres`), or none for input checks. */
  driver?: string;
  /** Whether the same call may succeed if tried again later. @default `true` for `unavailable`, else `false` */
  retryable?: boolean;
  /** The underlying error, kept for logs. */
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/dedup.DedupError");

/**
 * The one error class of `@evt/dedup`. A claim that rejects with it never counted as fresh or
 * duplicate: the caller does not know the outcome and, when `retryable`, may try again.
 *
 * @example
 * ```ts
 * import { DedupError } from "@evt/dedup";
 * try {
 *   await store.claim([{ key: "k", value: "v" }], 60_000);
 * } catch (err) {
 *   if (err instanceof DedupError && err.retryable) {
 *     // answer 503 and let the client retry
 *   }
 * }
 * ```
 */
export class DedupError extends Error {
  override readonly name = "DedupError";
  /** What went wrong; see {@link DedupErrorCode}. */
  readonly code: DedupErrorCode;
  /** Whether retrying the same call later may succeed. */
  readonly retryable: boolean;
  /** The driver that raised the error, if any. */
  readonly driver: string | undefined;

  constructor(code: DedupErrorCode, message: string, options: DedupErrorOptions = {}) {
    const where = options.driver ? `[${options.driver}] ` : "";
    super(
      `[evt/dedup] ${where}${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.retryable = options.retryable ?? code === "unavailable";
    this.driver = options.driver;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof DedupError` holds across copies of this class (each subpath entry and the
   * ESM and CJS builds bundle their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/**
 * Whether `err` is a {@link DedupError} (same as `err instanceof DedupError`).
 *
 * @example
 * ```ts
 * const results = await store.claim(entries, ttlMs).catch((err: unknown) => {
 *   if (isDedupError(err) && err.retryable) return undefined; // tell the client to retry
 *   throw err;
 * });
 * ```
 */
export function isDedupError(err: unknown): err is DedupError {
  return err instanceof DedupError;
}

/** Error thrown by a store used after `close()`. */
export function closedError(driver: string): DedupError {
  return new DedupError("closed", "the store is closed; create a new store to keep claiming", {
    driver,
  });
}
