/**
 * What went wrong, as a stable string:
 * - `unavailable`: the database did not answer in time, refused the connection, lost it, or
 *   was busy. Retryable: nothing or everything of the call was stored, so retrying is safe.
 * - `invalid_cursor`: the `cursor` given to `list` was not produced by `list`.
 * - `invalid_input`: an argument broke a documented rule (the message names the field).
 * - `closed`: the store was used after `close()`.
 * - `missing_dependency`: the driver's client library is not installed.
 * - `failed`: the database rejected the operation for another reason (see `cause`).
 */
export type StoreErrorCode =
  | "unavailable"
  | "invalid_cursor"
  | "invalid_input"
  | "closed"
  | "missing_dependency"
  | "failed";

/** Options of {@link StoreError}. */
export interface StoreErrorOptions {
  /** Whether the same call may succeed if retried later. @default `code === "unavailable"` */
  retryable?: boolean;
  /** The underlying error, when there is one. */
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/store.StoreError");

/**
 * The one error class of `@evt/store`. Messages read `[evt/store] [<driver>] <what happened>`.
 *
 * @example
 * ```ts
 * import { StoreError } from "@evt/store";
 *
 * try {
 *   await store.append(events);
 * } catch (error) {
 *   if (error instanceof StoreError && error.retryable) {
 *     // answer 503 and let the client retry: appends are idempotent
 *   }
 * }
 * ```
 */
export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;
  readonly retryable: boolean;
  /** Driver that raised the error (`memory`, `sqlite`, `postgres`). */
  readonly driver: string;

  constructor(
    driver: string,
    code: StoreErrorCode,
    message: string,
    options: StoreErrorOptions = {},
  ) {
    super(
      `[evt/store] [${driver}] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.driver = driver;
    this.code = code;
    this.retryable = options.retryable ?? code === "unavailable";
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof StoreError` holds across copies of this class (each subpath entry and the ESM and
   * CJS builds bundle their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/**
 * `true` when `error` is a {@link StoreError}, optionally with one of the given codes.
 *
 * @example
 * ```ts
 * import { isStoreError } from "@evt/store";
 *
 * const page = await store.list({ env, limit: 50, cursor }).catch((error) => {
 *   if (isStoreError(error, "invalid_cursor")) return null; // answer 400
 *   throw error;
 * });
 * ```
 */
export function isStoreError(error: unknown, ...codes: StoreErrorCode[]): error is StoreError {
  return error instanceof StoreError && (codes.length === 0 || codes.includes(error.code));
}

/** Text of an unknown thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
