import type { EncodedEvent, EventRow } from "../encode";
import { decodeRow, encodeEvents } from "../encode";
import { StoreError } from "../errors";
import { checkCutoff, checkEnv, checkIds, collectPage, normalizeListQuery } from "../query";
import type { EnvSummary, EventStore, ListPage, ListQuery, StoredEvent } from "../types";
import {
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
  RAW_TYPES,
  toStoreError,
} from "./postgres-client";
import {
  deleteBatchSql,
  getSql,
  hasSql,
  insertSql,
  listEnvsSql,
  listSql,
  nextEnvSql,
  schemaLockSql,
  schemaStatements,
} from "./postgres-sql";
import { checkTable, checkTimeout, DEFAULT_TABLE, importPeer } from "./shared";

export type { PgPool, PgPoolClient, PgQueryConfig, PgResult };

const DRIVER = "postgres";
const RETENTION_BATCH = 5_000;

/** Options of {@link createPostgresStore}: give `url` or `pool`. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgres://user@127.0.0.1:5432/evt`. The store owns this pool. */
  url?: string;
  /** An existing `pg` Pool to use instead of `url`. The store never ends it. */
  pool?: PgPool;
  /** Table name (a plain identifier in the connection's search_path). @default "evt_events" */
  table?: string;
  /**
   * Bound on every call: connecting, waiting for a pooled connection and each statement.
   * Past it the call rejects with a retryable `unavailable` error instead of hanging. On a
   * pool the store creates this also sets `statement_timeout`, so the server stops the work.
   * @default 2000
   */
  timeoutMs?: number;
  /** Connections of the pool created from `url`. @default 10 */
  max?: number;
  /**
   * Create the table and indexes on first use (under an advisory lock, safe when several
   * processes start at once). Set `false` when {@link migratePostgresStore} runs at deploy time.
   * @default true
   */
  autoMigrate?: boolean;
}

/** The PostgreSQL event store: an {@link EventStore} plus {@link PostgresEventStore.migrate}. */
export interface PostgresEventStore extends EventStore {
  /** Create the table and indexes if missing (idempotent, safe under concurrent callers). */
  migrate(): Promise<void>;
}

/**
 * The PostgreSQL event store (through `pg`, loaded on first use). Each `append` is one
 * `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING` statement: atomic, idempotent
 * by `(env, internal_id)`, 9 parameters whatever the batch size. Every call is bounded by
 * `timeoutMs`.
 *
 * @example
 * ```ts
 * import { createPostgresStore } from "@evt/store/postgres";
 *
 * const store = createPostgresStore({ url: "postgres://postgres@127.0.0.1:5432/evt_test" });
 * await store.append([{ internal_id: "01J0000000000000000000000A", id: null, name: "app/signup",
 *   data: { plan: "pro" }, user: null, ts: Date.now(), v: null, env: "production",
 *   received_at: Date.now() }]);
 * console.log(await store.get("01J0000000000000000000000A", "production"));
 * await store.close();
 * ```
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresEventStore {
  if (typeof options !== "object" || options === null) {
    throw new StoreError(DRIVER, "invalid_input", "options must be an object with `url` or `pool`");
  }
  const hasUrl = typeof options.url === "string" && options.url.length > 0;
  if (hasUrl === (options.pool != null)) {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      "options: give exactly one of `url` (a postgres:// connection string) or `pool` (a pg Pool)",
    );
  }
  const table = checkTable(DRIVER, options.table ?? DEFAULT_TABLE);
  const timeoutMs = checkTimeout(DRIVER, options.timeoutMs);
  const max = options.max ?? 10;
  if (!Number.isInteger(max) || max < 1) {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      `options.max must be a positive integer, got ${JSON.stringify(options.max)}`,
    );
  }
  const autoMigrate = options.autoMigrate ?? true;
  const owned = options.pool == null;
  const sql = {
    insert: insertSql(table),
    get: getSql(table),
    has: hasSql(table),
    deleteBatch: deleteBatchSql(table),
    nextEnv: nextEnvSql(table),
    listEnvs: listEnvsSql(table),
    list: new Map<string, string>(),
  };

  let pool: PgPool | null = options.pool ?? null;
  let creating: Promise<PgPool> | null = null;
  let schema: Promise<void> | null = null;
  let closed = false;
  let ended = false;

  async function getPool(): Promise<PgPool> {
    if (pool) return pool;
    creating ??= importPeer(DRIVER, () => import("pg"), "pg").then((mod) => {
      const pg = ((mod as { default?: unknown }).default ?? mod) as typeof import("pg");
      const created = new pg.Pool({
        connectionString: options.url,
        max,
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        statement_timeout: timeoutMs,
        idleTimeoutMillis: 10_000,
        keepAlive: true,
      });
      // A pooled idle connection that dies (server restart) must not crash the process; the
      // pool drops it and the next call reconnects.
      created.on("error", () => {});
      pool = created as unknown as PgPool;
      return pool;
    });
    return creating;
  }

  async function run(p: PgPool, text: string, values: unknown[], raw = false): Promise<PgResult> {
    return p.query({
      text,
      values,
      query_timeout: timeoutMs,
      ...(raw ? { types: RAW_TYPES } : {}),
    });
  }

  async function createSchema(p: PgPool): Promise<void> {
    const client = await p.connect();
    let failed: Error | undefined;
    try {
      await client.query({ text: "BEGIN", query_timeout: timeoutMs });
      await client.query({ text: schemaLockSql, values: [table], query_timeout: timeoutMs });
      for (const text of schemaStatements(table)) {
        await client.query({ text, query_timeout: timeoutMs });
      }
      await client.query({ text: "COMMIT", query_timeout: timeoutMs });
    } catch (error) {
      failed = error as Error;
      throw error;
    } finally {
      // A client whose transaction failed is discarded rather than reused mid-transaction.
      client.release(failed ?? undefined);
    }
  }

  function ensureSchema(p: PgPool): Promise<void> {
    if (!autoMigrate) return Promise.resolve();
    schema ??= createSchema(p).catch((error) => {
      schema = null; // try again on the next call
      throw error;
    });
    return schema;
  }

  /** Run `fn` on the pool with the schema in place, within `timeoutMs`, mapping errors. */
  function call<T>(op: string, fn: (p: PgPool) => Promise<T>): Promise<T> {
    if (closed) {
      return Promise.reject(new StoreError(DRIVER, "closed", `${op}: the store is closed`));
    }
    return new Promise<T>((resolve, reject) => {
      // The pool's own timeouts usually answer first with a precise reason; this outer bound
      // covers what they cannot (a user pool without timeouts, DNS, TLS).
      const timer = setTimeout(() => {
        reject(
          new StoreError(
            DRIVER,
            "unavailable",
            `${op} failed: PostgreSQL did not answer within ${timeoutMs} ms (options.timeoutMs); retry later`,
          ),
        );
      }, timeoutMs + 100);
      (async () => {
        const p = await getPool();
        await ensureSchema(p);
        return fn(p);
      })().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(toStoreError(op, error));
        },
      );
    });
  }

  function encodeColumns(rows: EncodedEvent[]): unknown[] {
    // Lock rows in one global order so concurrent appends of overlapping ids cannot deadlock;
    // the sort is stable, so among duplicates the first given still comes (and wins) first.
    const sorted = rows
      .slice()
      .sort((a, b) =>
        a.env === b.env
          ? a.internal_id < b.internal_id
            ? -1
            : a.internal_id > b.internal_id
              ? 1
              : 0
          : a.env < b.env
            ? -1
            : 1,
      );
    const cols: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
    for (const r of sorted) {
      cols[0]!.push(r.env);
      cols[1]!.push(r.internal_id);
      cols[2]!.push(r.id);
      cols[3]!.push(r.name);
      cols[4]!.push(r.data);
      cols[5]!.push(r.user);
      cols[6]!.push(r.ts);
      cols[7]!.push(r.v);
      cols[8]!.push(r.received_at);
      cols[9]!.push(r.source);
      cols[10]!.push(r.source_id);
    }
    return cols;
  }

  return {
    driver: DRIVER,

    async append(events: readonly StoredEvent[]): Promise<void> {
      const rows = encodeEvents(DRIVER, events);
      if (rows.length === 0) {
        if (closed) throw new StoreError(DRIVER, "closed", "append: the store is closed");
        return;
      }
      const values = encodeColumns(rows);
      await call(`append of ${rows.length} events`, (p) => run(p, sql.insert, values));
    },

    async get(internalId: string, env: string): Promise<StoredEvent | null> {
      checkEnv(DRIVER, "get", env);
      const { rows } = await call("get", (p) => run(p, sql.get, [env, internalId], true));
      const row = rows[0] as EventRow | undefined;
      return row ? decodeRow(row) : null;
    },

    async has(internalIds: readonly string[], env: string): Promise<Set<string>> {
      checkIds(DRIVER, internalIds, env);
      if (internalIds.length === 0) return new Set();
      const { rows } = await call("has", (p) => run(p, sql.has, [env, internalIds], true));
      return new Set((rows as { internal_id: string }[]).map((r) => r.internal_id));
    },

    async list(query: ListQuery): Promise<ListPage> {
      const q = normalizeListQuery(DRIVER, query);
      const shape = {
        name: q.name != null,
        since: q.since != null,
        until: q.until != null,
        after: q.after != null,
      };
      const key = `${+shape.name}${+shape.since}${+shape.until}${+shape.after}`;
      let text = sql.list.get(key);
      if (!text) {
        text = listSql(table, shape);
        sql.list.set(key, text);
      }
      const values: unknown[] = [q.env];
      if (q.name != null) values.push(q.name);
      if (q.since != null) values.push(q.since);
      if (q.until != null) values.push(q.until);
      if (q.after) values.push(q.after.receivedAt, q.after.internalId);
      values.push(q.limit + 1, q.limit, q.maxBytes);
      const result = await call("list", (p) => run(p, text, values, true));
      // The query sizes the rows and sends data only for those that fit; the first row past
      // the budget (or past `limit`) comes without it, only to tell that another page exists.
      const rows = result.rows as (EventRow & { size: string })[];
      return collectPage(rows, q.limit, q.maxBytes, (row) => Number(row.size));
    },

    async listEnvs(): Promise<EnvSummary[]> {
      // count and max are int8: read as text (RAW_TYPES) and converted, exact below 2^53.
      const { rows } = await call("listEnvs", (p) => run(p, sql.listEnvs, [], true));
      return (rows as { env: string; events: string; last: string }[]).map((row) => ({
        env: row.env,
        events: Number(row.events),
        lastReceivedAt: Number(row.last),
      }));
    },

    async deleteReceivedBefore(cutoffMs: number): Promise<number> {
      const cutoff = checkCutoff(DRIVER, cutoffMs);
      const op = "deleteReceivedBefore";
      const nextEnv = async (after: string) => {
        const { rows } = await call(op, (p) => run(p, sql.nextEnv, [after], true));
        return (rows[0] as { env: string | null } | undefined)?.env ?? null;
      };
      let deleted = 0;
      for (let env = await nextEnv(""); env != null; env = await nextEnv(env)) {
        for (;;) {
          // Small batches: each statement stays well inside the statement timeout and holds
          // its row locks briefly.
          const { rowCount } = await call(op, (p) =>
            run(p, sql.deleteBatch, [env, cutoff, RETENTION_BATCH]),
          );
          deleted += rowCount ?? 0;
          if (closed) return deleted;
          if ((rowCount ?? 0) < RETENTION_BATCH) break;
        }
      }
      return deleted;
    },

    async ping(): Promise<void> {
      await call("ping", (p) => run(p, "SELECT 1", []));
    },

    async migrate(): Promise<void> {
      await call("migrate", (p) => createSchema(p));
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const p = pool ?? (await creating?.catch(() => null));
      if (p && owned && !ended) {
        ended = true;
        await p.end();
      }
    },
  };
}

/**
 * Create the event table and its indexes if missing, then release the connection: for a
 * deploy step, with `autoMigrate: false` on the stores of the running application.
 *
 * @example
 * ```ts
 * import { migratePostgresStore } from "@evt/store/postgres";
 *
 * await migratePostgresStore({ url: process.env.DATABASE_URL!, table: "evt_events" });
 * ```
 */
export async function migratePostgresStore(options: PostgresStoreOptions): Promise<void> {
  const store = createPostgresStore({ ...options, autoMigrate: false });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

/** Alias of {@link createPostgresStore} that reads well next to `@evt/dedup`'s stores. */
export const createPostgresEventStore = createPostgresStore;
