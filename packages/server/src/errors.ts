/** What went wrong, as a stable string. */
export type ServerErrorCode =
  | "invalid_options"
  | "listen_failed"
  | "closed"
  | "internal"
  /** `EventApi.send` refused the events or could not store them; `status` says how. */
  | "rejected";

const BRAND = Symbol.for("@evt/server.ServerError");

/**
 * The one error class of `@evt/server`. Thrown for bad options and listener failures; request
 * problems never throw, they become JSON error responses.
 *
 * @example
 * ```ts
 * try {
 *   createEventApi({ dedup, store, maxRequestBytes: -1 });
 * } catch (err) {
 *   if (err instanceof ServerError) console.error(err.code, err.message);
 * }
 * ```
 */
export class ServerError extends Error {
  override readonly name = "ServerError";
  readonly code: ServerErrorCode;
  /** The HTTP status this error corresponds to. */
  readonly status: number;

  constructor(
    code: ServerErrorCode,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(
      `[evt/server] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.status = options.status ?? 500;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof ServerError` holds across copies of this class (each subpath entry and the ESM and
   * CJS builds bundle their own), by a global symbol brand.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && BRAND in value;
  }
}

/** A store error the client may retry (`DedupError`/`StoreError` with `retryable: true`). */
export function isRetryable(err: unknown): boolean {
  return (
    typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true
  );
}

/** The `code` of an error object, if it has a string one. */
export function errorCode(err: unknown): string | undefined {
  const code =
    typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}
