/**
 * What went wrong, as a stable string:
 * - `invalid_input`: an argument broke a documented rule (the message names the field and
 *   what is allowed). Nothing was stored.
 * - `too_large`: a value (output, error, step data, config) is over the size limit.
 *   Nothing was stored.
 * - `not_found`: the run, app or function named does not exist.
 * - `unavailable`: the database was busy, locked or could not be reached. Retryable: the
 *   call was one transaction, so nothing of it was stored.
 * - `closed`: the store was used after `close()`.
 * - `missing_dependency`: the driver's client library is not installed.
 * - `failed`: the database rejected the operation for another reason (see `cause`).
 */
export type FunctionsErrorCode =
  | "invalid_input"
  | "too_large"
  | "not_found"
  | "unavailable"
  | "closed"
  | "missing_dependency"
  | "failed";

/** Options of {@link FunctionsError}. */
export interface FunctionsErrorOptions {
  /** Whether the same call may succeed if retried later. @default `code === "unavailable"` */
  retryable?: boolean;
  /** The underlying error, when there is one. */
  cause?: unknown;
}

const BRAND = Symbol.for("@evt/functions.FunctionsError");

/**
 * The one error class of `@evt/functions`. Messages read
 * `[evt/functions] [<where>] <what happened>`, where `<where>` is the driver (`memory`,
 * `sqlite`) or the module (`register`).
 *
 * @example
 * ```ts
 * import { FunctionsError } from "@evt/functions";
 *
 * try {
 *   await runs.release(runId, owner, { status: "completed", output, now: Date.now() });
 * } catch (error) {
 *   if (error instanceof FunctionsError && error.code === "too_large") {
 *     // fail the run with a short error instead of its output
 *   }
 * }
 * ```
 */
export class FunctionsError extends Error {
  override readonly name = "FunctionsError";
  readonly code: FunctionsErrorCode;
  readonly retryable: boolean;
  /** Where the error was raised: a driver (`memory`, `sqlite`) or a module (`register`). */
  readonly where: string;

  constructor(
    where: string,
    code: FunctionsErrorCode,
    message: string,
    options: FunctionsErrorOptions = {},
  ) {
    super(
      `[evt/functions] [${where}] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.where = where;
    this.code = code;
    this.retryable = options.retryable ?? code === "unavailable";
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof FunctionsError` holds across copies of this class (each subpath entry and the
   * ESM and CJS builds bundle their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/**
 * `true` when `error` is a {@link FunctionsError}, optionally with one of the given codes.
 *
 * @example
 * ```ts
 * import { isFunctionsError } from "@evt/functions";
 *
 * const run = await runs.getRun(id).catch((error) => {
 *   if (isFunctionsError(error, "invalid_input")) return null; // answer 400
 *   throw error;
 * });
 * ```
 */
export function isFunctionsError(
  error: unknown,
  ...codes: FunctionsErrorCode[]
): error is FunctionsError {
  return error instanceof FunctionsError && (codes.length === 0 || codes.includes(error.code));
}

/** Text of an unknown thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
