import { describeError, StoreError } from "../errors";

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

/** A client checked out of a pool (used for the schema transaction only). */
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

/** Raw text for every column: JSON is parsed by the store, whatever parsers the pool has. */
export const RAW_TYPES = { getTypeParser: () => (value: string) => value };

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

export function toStoreError(op: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = describeError(error);
  let kind: "unavailable" | "invalid_input" | "failed" = "failed";
  if (typeof code === "string" && (TRANSIENT_ERRNO.has(code) || TRANSIENT_SQLSTATE.test(code))) {
    kind = "unavailable";
  } else if (typeof code === "string" && code.startsWith("22")) {
    kind = "invalid_input";
  } else if (typeof code !== "string" && TRANSIENT_MESSAGE.test(message)) {
    kind = "unavailable";
  } else if (code === undefined && error instanceof AggregateError) {
    kind = "unavailable"; // net.connect with several addresses, all refused
  }
  const hint =
    code === "22P05"
      ? "; jsonb cannot store the character \\u0000 in data or user strings"
      : kind === "unavailable"
        ? "; transient, safe to retry (appends are idempotent)"
        : "";
  return new StoreError(
    DRIVER,
    kind,
    `${op} failed: ${message}${typeof code === "string" ? ` (${code})` : ""}${hint}`,
    { cause: error },
  );
}
