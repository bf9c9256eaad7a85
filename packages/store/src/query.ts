import { decodeRow, describeValue, type EventRow } from "./encode";
import { StoreError } from "./errors";
import type { ListPage, ListQuery } from "./types";

/** Largest page `list` returns. */
export const MAX_LIST_LIMIT = 1000;

/** Default byte budget of a `list` page ({@link ListQuery.maxBytes}): 8 MiB. */
export const DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024;

/** Bytes counted per event for its keys, quotes and numbers, on top of its text columns. */
export const EVENT_OVERHEAD_BYTES = 128;

/** The text columns an event's size is estimated from. */
export interface SizedRow {
  env: string;
  internal_id: string;
  id: string | null;
  name: string;
  data: string;
  user: string | null;
  v: string | null;
}

const utf8Bytes = (s: string | null): number => (s === null ? 4 : Buffer.byteLength(s, "utf8"));

/**
 * Estimated JSON size of a stored event in bytes: its text columns (`data` and `user` as
 * stored JSON text) plus {@link EVENT_OVERHEAD_BYTES}. The PostgreSQL driver computes the
 * same sum in SQL (there `data::text` has a space after each `:` and `,`, so it counts a
 * little more).
 */
export function rowBytes(row: SizedRow): number {
  return (
    EVENT_OVERHEAD_BYTES +
    utf8Bytes(row.env) +
    utf8Bytes(row.internal_id) +
    utf8Bytes(row.id) +
    utf8Bytes(row.name) +
    utf8Bytes(row.data) +
    utf8Bytes(row.user) +
    utf8Bytes(row.v)
  );
}

/** Position after which the next page starts: the last row of the previous page. */
export interface CursorPosition {
  receivedAt: number;
  internalId: string;
}

/** A {@link ListQuery} after checking, with the cursor decoded. */
export interface NormalizedListQuery {
  env: string;
  name: string | null;
  since: number | null;
  until: number | null;
  limit: number;
  /** Byte budget of the page (see {@link ListQuery.maxBytes}). */
  maxBytes: number;
  after: CursorPosition | null;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Opaque cursor: base64url of `<received_at>.<internal_id>` of the last row of a page. */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.receivedAt}.${position.internalId}`, "utf8").toString("base64url");
}

/** Decode a cursor from {@link encodeCursor}; throws an `invalid_cursor` {@link StoreError}. */
export function decodeCursor(driver: string, cursor: string): CursorPosition {
  const fail = (why: string) =>
    new StoreError(
      driver,
      "invalid_cursor",
      `list: cursor ${describeValue(cursor)} is malformed (${why}); pass the \`cursor\` of the previous page unchanged, or null for the first page`,
    );
  if (!BASE64URL.test(cursor)) throw fail("not base64url");
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (Buffer.from(text, "utf8").toString("base64url") !== cursor) throw fail("not base64url");
  const dot = text.indexOf(".");
  const receivedAt = dot > 0 ? Number(text.slice(0, dot)) : Number.NaN;
  const internalId = text.slice(dot + 1);
  if (!/^-?\d+$/.test(text.slice(0, Math.max(dot, 0))) || !Number.isSafeInteger(receivedAt)) {
    throw fail("no received_at");
  }
  if (internalId.length === 0) throw fail("no internal_id");
  return { receivedAt, internalId };
}

function optionalTime(driver: string, field: string, value: unknown): number | null {
  if (value == null) return null;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: ${field} must be a finite number (ms since epoch) or absent, got ${describeValue(value)}`,
    );
  }
  return toIntegerBound(value);
}

/**
 * `received_at` is an integer, so `received_at >= x` and `received_at < x` hold exactly when
 * they hold for `ceil(x)`; clamped to the safe range so every database can bind it as bigint.
 */
export function toIntegerBound(value: number): number {
  return Math.min(Math.max(Math.ceil(value), Number.MIN_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

/** Check a {@link ListQuery}; throws `invalid_input` / `invalid_cursor` {@link StoreError}s. */
export function normalizeListQuery(driver: string, query: ListQuery): NormalizedListQuery {
  if (typeof query !== "object" || query === null) {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: query must be an object, got ${describeValue(query)}`,
    );
  }
  const { env, name, since, until, limit, cursor, maxBytes } = query;
  if (typeof env !== "string" || env.length === 0) {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: env must be a non-empty string, got ${describeValue(env)}`,
    );
  }
  if (name != null && typeof name !== "string") {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: name must be a string or absent, got ${describeValue(name)}`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${describeValue(limit)}`,
    );
  }
  if (maxBytes != null && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `list: maxBytes must be a positive integer number of bytes or absent (default ${DEFAULT_MAX_PAGE_BYTES}), got ${describeValue(maxBytes)}`,
    );
  }
  if (cursor != null && typeof cursor !== "string") {
    throw new StoreError(
      driver,
      "invalid_cursor",
      `list: cursor must be a string from a previous page or null, got ${describeValue(cursor)}`,
    );
  }
  let upper = optionalTime(driver, "until", until);
  let after = cursor == null ? null : decodeCursor(driver, cursor);
  // Keep only the stricter of the two upper bounds, so the database seeks straight to the
  // cursor instead of scanning down from `until` on every page.
  if (after && upper != null) {
    if (after.receivedAt < upper) upper = null;
    else after = null;
  }
  return {
    env,
    name: name ?? null,
    since: optionalTime(driver, "since", since),
    until: upper,
    limit,
    maxBytes: maxBytes ?? DEFAULT_MAX_PAGE_BYTES,
    after,
  };
}

/** Check the ids of `has`. */
export function checkIds(driver: string, ids: readonly string[], env: string): void {
  if (!Array.isArray(ids)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `has: internalIds must be an array of strings, got ${describeValue(ids)}`,
    );
  }
  for (let i = 0; i < ids.length; i++) {
    if (typeof ids[i] !== "string") {
      throw new StoreError(
        driver,
        "invalid_input",
        `has: internalIds[${i}] must be a string, got ${describeValue(ids[i])}`,
      );
    }
  }
  checkEnv(driver, "has", env);
}

/** Check an `env` argument. */
export function checkEnv(driver: string, op: string, env: string): void {
  if (typeof env !== "string" || env.length === 0) {
    throw new StoreError(
      driver,
      "invalid_input",
      `${op}: env must be a non-empty string, got ${describeValue(env)}`,
    );
  }
}

/** Check the cutoff of `deleteReceivedBefore`; returns it as an integer bound. */
export function checkCutoff(driver: string, cutoffMs: number): number {
  if (typeof cutoffMs !== "number" || !Number.isFinite(cutoffMs)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `deleteReceivedBefore: cutoffMs must be a finite number (ms since epoch), got ${describeValue(cutoffMs)}`,
    );
  }
  return toIntegerBound(cutoffMs);
}

/**
 * One page from rows in list order, read lazily: stops after `limit` rows, or before the row
 * that would take the page past `maxBytes` (the first row is always taken). Reads at most one
 * row more than it returns (to know that another page exists); breaking out of the loop closes
 * the iterator (a SQLite statement iterator is released). `sizeOf` defaults to
 * {@link rowBytes}; the PostgreSQL driver passes the size its query computed.
 */
export function collectPage<R extends EventRow>(
  rows: Iterable<R>,
  limit: number,
  maxBytes: number,
  sizeOf: (row: R) => number = rowBytes,
): ListPage {
  const page: R[] = [];
  let bytes = 0;
  let more = false;
  for (const row of rows) {
    if (page.length === limit) {
      more = true;
      break;
    }
    const size = sizeOf(row);
    if (page.length > 0 && bytes + size > maxBytes) {
      more = true;
      break;
    }
    page.push(row);
    bytes += size;
  }
  const last = page[page.length - 1];
  return {
    events: page.map(decodeRow),
    cursor:
      more && last
        ? encodeCursor({ receivedAt: Number(last.received_at), internalId: last.internal_id })
        : null,
  };
}
