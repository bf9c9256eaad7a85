import { decodeRow, describeValue, type EventRow } from "./encode";
import { StoreError } from "./errors";
import type { ListPage, ListQuery } from "./types";

/** Largest page `list` returns. */
export const MAX_LIST_LIMIT = 1000;

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
  const { env, name, since, until, limit, cursor } = query;
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
 * One page from rows fetched with `LIMIT limit + 1`: the extra row only tells that another
 * page exists, and the cursor points after the last row returned.
 */
export function pageFromRows(rows: EventRow[], limit: number): ListPage {
  const more = rows.length > limit;
  if (more) rows.length = limit;
  const last = rows[rows.length - 1];
  return {
    events: rows.map(decodeRow),
    cursor:
      more && last
        ? encodeCursor({ receivedAt: Number(last.received_at), internalId: last.internal_id })
        : null,
  };
}
