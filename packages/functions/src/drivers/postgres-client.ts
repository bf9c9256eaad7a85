import { describeError, FunctionsError } from "../errors";

const DRIVER = "postgres";

/** A query as this driver sends it (the `pg` query config object). */
export interface PgQueryConfig {
  text: string;
  values?: unknown[];
  /** Client-side bound on waiting for the answer (ms). */
  query_timeout?: number;
  types?: { getTypeParser: (oid: number, format?: string) => (value: string) => unknown };
}

/** A query result, as far as this driver reads it. */
export interface PgResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A client checked out of a pool (for multi-statement transactions). */
export interface PgPoolClient {
  query(config: PgQueryConfig): Promise<PgResult>;
  release(error?: Error | boolean): void;
}

/**
 * The parts of a `pg` `Pool` this driver uses. Any `new pg.Pool(...)` fits; the type is
 * structural so `@types/pg` is not required.
 */
export interface PgPool {
  query(config: PgQueryConfig): Promise<PgResult>;
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
}

const INT8 = 20;
const INT2 = 21;
const INT4 = 23;

/**
 * Column parsers of every query: integers (times are `bigint` ms, far below 2^53) as numbers,
 * everything else as raw text (JSON is decoded by the store), whatever parsers the pool has.
 */
export const TYPES = {
  getTypeParser: (oid: number) =>
    oid === INT8 || oid === INT4 || oid === INT2 ? Number : (value: string) => value,
};

/** SQLSTATEs that mean "try again": connection, resources, cancel/timeout, serialization, deadlock. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0|57014|40001|40P01|55P03|58)/;
const TRANSIENT_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
const TRANSIENT_MESSAGE =
  /timeout|Connection terminated|not queryable|Client was closed|connection error/i;

/** Map an error of `pg` to a {@link FunctionsError}: connection trouble is retryable `unavailable`. */
export function toFunctionsError(op: string, error: unknown): FunctionsError {
  if (error instanceof FunctionsError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = describeError(error);
  let kind: "unavailable" | "invalid_input" | "failed" = "failed";
  if (typeof code === "string" && (TRANSIENT_ERRNO.has(code) || TRANSIENT_SQLSTATE.test(code))) {
    kind = "unavailable";
  } else if (typeof code === "string" && code.startsWith("22")) {
    kind = "invalid_input"; // data exception: a value PostgreSQL cannot store
  } else if (typeof code !== "string" && TRANSIENT_MESSAGE.test(message)) {
    kind = "unavailable";
  } else if (code === undefined && error instanceof AggregateError) {
    kind = "unavailable"; // net.connect with several addresses, all refused
  }
  return new FunctionsError(
    DRIVER,
    kind,
    `${op} failed: ${message}${typeof code === "string" ? ` (${code})` : ""}${
      kind === "unavailable" ? "; transient, retry later" : ""
    }`,
    { cause: error },
  );
}
