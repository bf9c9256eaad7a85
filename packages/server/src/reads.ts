import type { EventStore, ListQuery } from "@evt/store";
import { errorCode } from "./errors.js";
import { jsonArrayStream } from "./responses.js";
import type { ApiResponse } from "./types.js";
import { DEFAULT_ENV, ENV_ALLOWED, envProblem, isUlid, parseIntParam, quote } from "./validate.js";

/** A read-API problem the client caused: 400 with this message. */
export class BadQuery {
  constructor(readonly message: string) {}
}

const LIST_PARAMS = ["name", "env", "limit", "cursor", "since", "until"] as const;
const GET_PARAMS = ["env"] as const;
export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 1000;
export const DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_READS = 4;

/** A list read refused because `maxConcurrentReads` are being served: 429 with this message. */
export class ReadsBusy {
  constructor(readonly message: string) {}
}

/**
 * Slots for list reads: one is taken before the store call and given back when the response
 * body has been sent or abandoned (or the read failed), so at most `max` pages are in memory.
 */
export class ReadSlots {
  #used = 0;
  constructor(
    readonly max: number,
    readonly maxPageBytes: number,
  ) {}
  /** Reads holding a slot now. */
  get used(): number {
    return this.#used;
  }
  /** A release function (idempotent), or `null` when every slot is taken. */
  acquire(): (() => void) | null {
    if (this.#used >= this.max) return null;
    this.#used++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#used--;
    };
  }
}

/** Parse a query string, refusing unknown and repeated parameters. */
function params(query: string, allowed: readonly string[]): Map<string, string> | BadQuery {
  const out = new Map<string, string>();
  if (query.length === 0) return out;
  let sp: URLSearchParams;
  try {
    sp = new URLSearchParams(query);
  } catch {
    return new BadQuery("Query string is malformed");
  }
  for (const [k, v] of sp) {
    if (!allowed.includes(k)) {
      return new BadQuery(`Unknown query parameter ${quote(k)} (allowed: ${allowed.join(", ")})`);
    }
    if (out.has(k))
      return new BadQuery(`Query parameter "${k}" is given more than once (allowed: once)`);
    out.set(k, v);
  }
  return out;
}

/** The environment of a read: `?env=` wins over the header; default production. */
function readEnv(
  p: Map<string, string>,
  header: { name: string; value: string } | undefined,
): string | BadQuery {
  const fromQuery = p.get("env");
  const env = fromQuery ?? header?.value ?? DEFAULT_ENV;
  const problem = envProblem(env);
  if (problem !== null) {
    const where = fromQuery !== undefined ? 'Query parameter "env"' : `Header ${header?.name}`;
    return new BadQuery(`${where} ${quote(env)} ${problem} (allowed: ${ENV_ALLOWED})`);
  }
  return env;
}

function timeParam(p: Map<string, string>, name: "since" | "until"): number | undefined | BadQuery {
  const raw = p.get(name);
  if (raw === undefined) return undefined;
  const n = parseIntParam(raw);
  if (n !== null) return n;
  // ISO 8601 with a date, a time and a zone (Z or +hh:mm): no local time left to guess.
  if (ISO_INSTANT.test(raw)) {
    const ms = Date.parse(raw);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return new BadQuery(
    `Query parameter "${name}" must be milliseconds since epoch (1733140800000) or an ISO 8601 time with a zone (2024-12-02T12:00:00Z, 2024-12-02T13:00:00+01:00), got ${quote(raw)}`,
  );
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** `GET /v1/events/:internalId` -> `{ data }`, or `null` when absent. */
export async function getEvent(
  store: EventStore,
  internalId: string,
  query: string,
  envHeader: { name: string; value: string } | undefined,
): Promise<{ data: unknown } | null | BadQuery> {
  const p = params(query, GET_PARAMS);
  if (p instanceof BadQuery) return p;
  const env = readEnv(p, envHeader);
  if (env instanceof BadQuery) return env;
  if (!isUlid(internalId)) {
    return new BadQuery(
      `Event id ${quote(internalId)} is not an internal event id (allowed: a 26-character ULID as returned in "ids")`,
    );
  }
  const event = await store.get(internalId, env);
  return event === null ? null : { data: event };
}

/**
 * `GET /v1/events?...` -> 200 `{ data, cursor }` with a streamed body (the read's slot is
 * released when the body is done), a {@link BadQuery}, or {@link ReadsBusy}.
 */
export async function listEvents(
  store: EventStore,
  query: string,
  envHeader: { name: string; value: string } | undefined,
  slots: ReadSlots,
): Promise<ApiResponse | BadQuery | ReadsBusy> {
  const p = params(query, LIST_PARAMS);
  if (p instanceof BadQuery) return p;
  const env = readEnv(p, envHeader);
  if (env instanceof BadQuery) return env;
  const q: ListQuery = { env, limit: LIST_DEFAULT_LIMIT };
  const rawLimit = p.get("limit");
  if (rawLimit !== undefined) {
    const limit = parseIntParam(rawLimit);
    if (limit === null || limit < 1 || limit > LIST_MAX_LIMIT) {
      return new BadQuery(
        `Query parameter "limit" must be an integer from 1 to ${LIST_MAX_LIMIT}, got ${quote(rawLimit)}`,
      );
    }
    q.limit = limit;
  }
  const name = p.get("name");
  if (name !== undefined) {
    if (name.length === 0 || name.length > 256) {
      return new BadQuery(
        `Query parameter "name" must have 1 to 256 characters, got ${name.length}`,
      );
    }
    q.name = name;
  }
  const since = timeParam(p, "since");
  if (since instanceof BadQuery) return since;
  const until = timeParam(p, "until");
  if (until instanceof BadQuery) return until;
  if (since !== undefined && until !== undefined && since >= until) {
    return new BadQuery(`Query parameter "since" (${since}) must be less than "until" (${until})`);
  }
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  const cursor = p.get("cursor");
  if (cursor !== undefined) {
    if (cursor.length === 0 || cursor.length > 1024) {
      return new BadQuery(
        `Query parameter "cursor" must have 1 to 1024 characters, got ${cursor.length}`,
      );
    }
    q.cursor = cursor;
  }
  q.maxBytes = slots.maxPageBytes;
  const release = slots.acquire();
  if (release === null) {
    return new ReadsBusy(
      `Too many list reads at once (allowed: ${slots.max} concurrent GET /v1/events); retry after the Retry-After seconds`,
    );
  }
  try {
    const page = await store.list(q);
    return {
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: jsonArrayStream(
        '{"data":[',
        page.events,
        `],"cursor":${JSON.stringify(page.cursor)}}`,
        release,
      ),
    };
  } catch (err) {
    release();
    if (errorCode(err) === "invalid_cursor") {
      return new BadQuery(
        'Query parameter "cursor" is not a cursor this server issued (allowed: the "cursor" of a previous page)',
      );
    }
    throw err;
  }
}

/** One row of `GET /v1/envs`. */
export interface EnvRow {
  env: string;
  events: number;
  /** ISO 8601 (UTC) of the environment's latest `received_at`. */
  last_received_at: string;
}

/**
 * `GET /v1/envs` -> 200 `{ data: [{ env, events, last_received_at }] }`, ordered by `env`
 * (bytewise), a {@link BadQuery} when a query parameter is given (the route lists every
 * environment and takes none), or {@link ReadsBusy}. The store call counts every event (a
 * scan), so it takes one of the list-read slots, like `GET /v1/events`.
 *
 * @example
 * ```ts
 * const out = await listEnvs(store, "", new ReadSlots(4, 8 * 1024 * 1024));
 * // { data: [{ env: "production", events: 123, last_received_at: "2026-12-02T17:00:00.000Z" }] }
 * ```
 */
export async function listEnvs(
  store: EventStore,
  query: string,
  slots: ReadSlots,
): Promise<{ data: EnvRow[] } | BadQuery | ReadsBusy> {
  if (query.length > 0) {
    const first = new URLSearchParams(query).keys().next();
    if (first.done !== true) {
      return new BadQuery(
        `Unknown query parameter ${quote(first.value)}: GET /v1/envs takes no query parameters (it lists every environment; read one with GET /v1/events?env=<env>)`,
      );
    }
  }
  const release = slots.acquire();
  if (release === null) {
    return new ReadsBusy(
      `Too many list reads at once (allowed: ${slots.max} concurrent GET /v1/events and GET /v1/envs); retry after the Retry-After seconds`,
    );
  }
  try {
    const envs = await store.listEnvs();
    return {
      data: envs.map((e) => ({
        env: e.env,
        events: e.events,
        last_received_at: new Date(e.lastReceivedAt).toISOString(),
      })),
    };
  } finally {
    release();
  }
}
