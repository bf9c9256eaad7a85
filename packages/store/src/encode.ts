import type { EventSource } from "@evt/schema";
import { describeError, StoreError } from "./errors";
import type { StoredEvent } from "./types";

/**
 * The allowed `source` values, as a record so that a source added to {@link EventSource}
 * fails to compile here until it is added (a type-only import: the store does not load
 * `@evt/schema` at run time).
 */
const SOURCES: Record<EventSource, true> = {
  api: true,
  webhook: true,
  function: true,
  cron: true,
  evt: true,
};
const SOURCE_LIST = Object.keys(SOURCES)
  .map((s) => JSON.stringify(s))
  .join(", ");

/** An event checked and serialised once, ready to bind to a statement. */
export interface EncodedEvent {
  env: string;
  internal_id: string;
  id: string | null;
  name: string;
  /** `data` as JSON text. */
  data: string;
  /** `user` as JSON text, or `null`. */
  user: string | null;
  ts: number;
  v: string | null;
  received_at: number;
  source: EventSource | null;
  source_id: string | null;
}

/** A row as a driver reads it back: JSON columns still as text, numbers maybe as strings (pg bigint). */
export interface EventRow {
  env: string;
  internal_id: string;
  id: string | null;
  name: string;
  data: string;
  user: string | null;
  ts: number | string;
  v: string | null;
  received_at: number | string;
  /** `null` in rows stored before the column existed. */
  source: string | null;
  source_id: string | null;
}

function invalid(driver: string, where: string, rule: string, got: unknown): StoreError {
  return new StoreError(
    driver,
    "invalid_input",
    `append: ${where} ${rule}, got ${describeValue(got)}`,
  );
}

/** Short, safe description of a value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n (a bigint)`;
    case "undefined":
      return "undefined";
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toJson(driver: string, where: string, value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new StoreError(
      driver,
      "invalid_input",
      `append: ${where} cannot be stored as JSON (${describeError(error)}); allowed: JSON values only (no bigint, no cycles)`,
      { cause: error },
    );
  }
}

/**
 * Check one event against the {@link StoredEvent} shape and serialise `data`/`user` once.
 * Throws a non-retryable `invalid_input` {@link StoreError} naming `events[i].<field>`.
 */
export function encodeEvent(driver: string, event: StoredEvent, i: number): EncodedEvent {
  if (!isObject(event)) throw invalid(driver, `events[${i}]`, "must be an object", event);
  const { env, internal_id, id, name, data, user, ts, v, received_at, source, source_id } = event;
  if (typeof internal_id !== "string" || internal_id.length === 0) {
    throw invalid(driver, `events[${i}].internal_id`, "must be a non-empty string", internal_id);
  }
  if (typeof env !== "string" || env.length === 0) {
    throw invalid(driver, `events[${i}].env`, "must be a non-empty string", env);
  }
  if (typeof name !== "string" || name.length === 0) {
    throw invalid(driver, `events[${i}].name`, "must be a non-empty string", name);
  }
  if (id != null && typeof id !== "string") {
    throw invalid(driver, `events[${i}].id`, "must be a string or null", id);
  }
  if (v != null && typeof v !== "string") {
    throw invalid(driver, `events[${i}].v`, "must be a string or null", v);
  }
  if (!Number.isSafeInteger(ts)) {
    throw invalid(driver, `events[${i}].ts`, "must be an integer (ms since epoch)", ts);
  }
  if (!Number.isSafeInteger(received_at)) {
    throw invalid(
      driver,
      `events[${i}].received_at`,
      "must be an integer (ms since epoch)",
      received_at,
    );
  }
  if (source != null && (typeof source !== "string" || !Object.hasOwn(SOURCES, source))) {
    throw invalid(driver, `events[${i}].source`, `must be null or one of ${SOURCE_LIST}`, source);
  }
  if (source_id != null && typeof source_id !== "string") {
    throw invalid(driver, `events[${i}].source_id`, "must be a string or null", source_id);
  }
  if (!isObject(data)) throw invalid(driver, `events[${i}].data`, "must be an object", data);
  if (user != null && !isObject(user)) {
    throw invalid(driver, `events[${i}].user`, "must be an object or null", user);
  }
  return {
    env,
    internal_id,
    id: id ?? null,
    name,
    data: toJson(driver, `events[${i}].data`, data),
    user: user == null ? null : toJson(driver, `events[${i}].user`, user),
    ts,
    v: v ?? null,
    received_at,
    source: source ?? null,
    source_id: source_id ?? null,
  };
}

/** {@link encodeEvent} for a whole `append` call; checks that `events` is an array. */
export function encodeEvents(driver: string, events: readonly StoredEvent[]): EncodedEvent[] {
  if (!Array.isArray(events)) {
    throw new StoreError(
      driver,
      "invalid_input",
      `append: events must be an array of stored events, got ${describeValue(events)}`,
    );
  }
  const out = new Array<EncodedEvent>(events.length);
  for (let i = 0; i < events.length; i++) out[i] = encodeEvent(driver, events[i]!, i);
  return out;
}

/** Turn a stored row back into the {@link StoredEvent} that was appended. */
export function decodeRow(row: EventRow): StoredEvent {
  return {
    internal_id: row.internal_id,
    id: row.id,
    name: row.name,
    data: JSON.parse(row.data) as Record<string, unknown>,
    user: row.user == null ? null : (JSON.parse(row.user) as Record<string, unknown>),
    ts: Number(row.ts),
    v: row.v,
    env: row.env,
    received_at: Number(row.received_at),
    source: (row.source ?? null) as EventSource | null,
    source_id: row.source_id ?? null,
  };
}
