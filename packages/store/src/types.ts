import type { StoredEvent } from "@evt/schema";

export type { StoredEvent };

/** A query for {@link EventStore.list}. */
export interface ListQuery {
  /** Environment to read from (`production` unless a branch environment was used). */
  env: string;
  /** Only events with exactly this name. */
  name?: string;
  /** Only events received at or after this time (ms since epoch). */
  since?: number;
  /** Only events received before this time (ms since epoch). */
  until?: number;
  /** Page size, 1..1000. */
  limit: number;
  /** Opaque cursor from a previous page; `null`/absent for the first page. */
  cursor?: string | null;
  /**
   * Byte budget of the page: the page stops before the event that would take the events'
   * JSON size past it (always at least one event, however large) and returns the cursor of
   * the rest. The size of an event is estimated from its stored columns (`data` and `user`
   * JSON text, strings, plus a fixed 128 bytes for keys and numbers). Bounds the memory one
   * read takes whatever `limit` asks.
   * @default 8_388_608 (8 MiB)
   */
  maxBytes?: number;
}

/** One page of events, newest first, and the cursor of the next page (`null` on the last). */
export interface ListPage {
  events: StoredEvent[];
  cursor: string | null;
}

/** One environment that holds events, as {@link EventStore.listEnvs} returns it. */
export interface EnvSummary {
  /** Environment name. */
  env: string;
  /** Events stored in it (at least 1: an environment without events is not listed). */
  events: number;
  /** Largest `received_at` of its events (ms since epoch). */
  lastReceivedAt: number;
}

/**
 * The event log. Every driver implements exactly this interface and passes the conformance
 * suite in `@evt/store/testing`.
 */
export interface EventStore {
  /** Driver name, for logs and metrics (`memory`, `sqlite`, `postgres`). */
  readonly driver: string;
  /**
   * Durably append events; resolves only once they are stored (committed). Idempotent by
   * `internal_id`: appending an id that is already stored keeps the first row and is not an
   * error. All events of one call are stored, or none (one transaction / one statement).
   * Rejects with a retryable `StoreError` when the store cannot answer.
   */
  append(events: readonly StoredEvent[]): Promise<void>;
  /** One event by internal id within an environment, or `null`. */
  get(internalId: string, env: string): Promise<StoredEvent | null>;
  /** Which of these internal ids are stored in `env` (one round trip). */
  has(internalIds: readonly string[], env: string): Promise<Set<string>>;
  /** Events newest first (by `received_at`, then `internal_id`), one page at a time. */
  list(query: ListQuery): Promise<ListPage>;
  /**
   * The environments that hold events, ordered by name (bytewise, UTF-8), each with its event
   * count and latest `received_at`. An environment whose events were all deleted (retention)
   * is not listed. Exact counts need a scan: the SQL drivers run one `GROUP BY env` statement
   * that reads every event's index entry (or row), in time proportional to the events stored
   * (roughly 0.5 to 1 s per 2 million events), not to the environments. Call it for an
   * overview, not on a hot path; on PostgreSQL it is bounded by `timeoutMs` like every call.
   *
   * @example
   * ```ts
   * for (const { env, events, lastReceivedAt } of await store.listEnvs()) {
   *   console.log(env, events, new Date(lastReceivedAt).toISOString());
   * }
   * ```
   */
  listEnvs(): Promise<EnvSummary[]>;
  /** Delete events received before `cutoffMs`; returns how many were deleted (retention). */
  deleteReceivedBefore(cutoffMs: number): Promise<number>;
  /** Resolves when the store answers (readiness checks). */
  ping(): Promise<void>;
  /** Release connections and timers. Safe to call more than once. */
  close(): Promise<void>;
}
