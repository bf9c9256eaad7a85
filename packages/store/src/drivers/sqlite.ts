import type BetterSqlite3 from "better-sqlite3";
import { decodeRow, type EncodedEvent, type EventRow, encodeEvents } from "../encode";
import { describeError, StoreError } from "../errors";
import {
  checkCutoff,
  checkEnv,
  checkIds,
  collectPage,
  type NormalizedListQuery,
  normalizeListQuery,
} from "../query";
import type { EnvSummary, EventStore, ListPage, ListQuery, StoredEvent } from "../types";
import { checkTable, checkTimeout, DEFAULT_TABLE, importPeer } from "./shared";
import type {
  SqliteCommitPart,
  SqliteDatabase,
  SqliteSharedCommit,
  SqliteStoreOptions,
} from "./sqlite-options";
import {
  ADDED_COLUMNS,
  addColumnSql,
  deleteBatchSql,
  getSql,
  hasSql,
  insertSql,
  type ListShape,
  listEnvsSql,
  listSql,
  nextEnvSql,
  schemaSql,
  tableInfoSql,
} from "./sqlite-sql";

const DRIVER = "sqlite";
const RETENTION_BATCH = 5_000;

export type { SqliteCommitPart, SqliteDatabase, SqliteSharedCommit, SqliteStoreOptions };

type Statement = BetterSqlite3.Statement;

interface Pending {
  rows: EncodedEvent[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Ready {
  db: BetterSqlite3.Database;
  insertMany: BetterSqlite3.Transaction<(rows: EncodedEvent[]) => void>;
  /** Inserts rows without a transaction of its own (inside a shared one). */
  insertRows: (rows: EncodedEvent[]) => void;
  /** Several calls' rows in one transaction; throws {@link CallFailed} if one call failed. */
  insertGroup: BetterSqlite3.Transaction<(group: Pending[]) => void>;
  get: Statement;
  has: Statement;
  deleteBatch: Statement;
  nextEnv: Statement;
  listEnvs: Statement;
  list: Map<string, Statement>;
}

/** Thrown out of a group transaction (rolling it back) by the call that failed in it. */
class CallFailed {
  constructor(
    readonly call: Pending,
    readonly error: unknown,
  ) {}
}

const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM)/;

function toStoreError(op: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const transient = typeof code === "string" && TRANSIENT.test(code);
  return new StoreError(
    DRIVER,
    transient ? "unavailable" : "failed",
    `${op} failed: ${describeError(error)}${typeof code === "string" ? ` (${code})` : ""}`,
    { cause: error },
  );
}

/** Add the {@link ADDED_COLUMNS} a table created by an older release lacks. */
function addMissingColumns(db: BetterSqlite3.Database, table: string): void {
  const have = new Set(db.prepare(tableInfoSql(table)).pluck().all() as string[]);
  for (const [name, definition] of ADDED_COLUMNS) {
    if (have.has(name)) continue;
    try {
      db.exec(addColumnSql(table, name, definition));
    } catch (error) {
      // Another process opening the same file added it first.
      if (!/duplicate column name/i.test(String((error as Error).message))) throw error;
    }
  }
}

function shapeKey(s: ListShape): string {
  return `${+s.name}${+s.since}${+s.until}${+s.after}`;
}

/** The SQLite event store, with synchronous entry points for a transaction its caller holds. */
export interface SqliteEventStore extends EventStore {
  /**
   * Inserts `events` synchronously in the transaction the caller holds open on the shared
   * `database` (the `write()` of a `sharedCommit` part that also writes other stores): nothing
   * is committed or rolled back here; the events are stored once the caller's transaction
   * commits. Idempotent by internal id like `append`. Throws a `StoreError` on an invalid event,
   * if the store is not open yet (any awaited call opens it, e.g. `append([])`) or if SQLite
   * fails (the caller then rolls its transaction back).
   */
  appendInTransaction(events: readonly StoredEvent[]): void;
  /** `has` read synchronously in the caller's open transaction (sees its uncommitted rows). */
  hasInTransaction(internalIds: readonly string[], env: string): Set<string>;
}

/**
 * The embedded event store: one SQLite file through `better-sqlite3` (loaded on first use).
 * Every `append` is one transaction of prepared inserts; `synchronous` decides whether a
 * commit is fsynced (see the README, "Durability").
 *
 * @example
 * ```ts
 * import { createSqliteStore } from "@evt/store/sqlite";
 *
 * const store = createSqliteStore({ path: "./events.db" });
 * await store.append([{ internal_id: "01J0000000000000000000000A", id: null, name: "app/signup",
 *   data: { plan: "pro" }, user: null, ts: Date.now(), v: null, env: "production",
 *   received_at: Date.now() }]);
 * const page = await store.list({ env: "production", limit: 50 });
 * await store.close();
 * ```
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteEventStore {
  if (typeof options !== "object" || options === null) {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      "options must be an object with `path` (a file or ':memory:') or `database`",
    );
  }
  const hasPath = typeof options.path === "string" && options.path.length > 0;
  if (hasPath === (options.database != null)) {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      "options: give exactly one of `path` (a file or ':memory:') or `database` (an open better-sqlite3 Database)",
    );
  }
  const synchronous = options.synchronous ?? "FULL";
  if (synchronous !== "FULL" && synchronous !== "NORMAL") {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      `options.synchronous must be "FULL" or "NORMAL", got ${JSON.stringify(options.synchronous)}`,
    );
  }
  const table = checkTable(DRIVER, options.table ?? DEFAULT_TABLE);
  const timeoutMs = checkTimeout(DRIVER, options.timeoutMs);
  const owned = options.database == null;
  const groupCommit = options.groupCommit ?? true;
  const shared = options.sharedCommit;
  if (shared !== undefined && (owned || typeof shared?.join !== "function")) {
    throw new StoreError(
      DRIVER,
      "invalid_input",
      "options.sharedCommit needs options.database and an object with a join(part) method",
    );
  }
  let queue: Pending[] = [];
  let flushScheduled = false;

  let ready: Ready | null = null;
  let opening: Promise<Ready> | null = null;
  let closed = false;

  async function open(): Promise<Ready> {
    let db: BetterSqlite3.Database;
    if (owned) {
      const mod = await importPeer(DRIVER, () => import("better-sqlite3"), "better-sqlite3");
      const Database = ((mod as { default?: unknown }).default ?? mod) as typeof BetterSqlite3;
      db = new Database(options.path!, { timeout: timeoutMs });
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${synchronous}`);
    } else {
      db = options.database as unknown as BetterSqlite3.Database;
      if (options.synchronous) db.pragma(`synchronous = ${synchronous}`);
      if (options.timeoutMs !== undefined) db.pragma(`busy_timeout = ${timeoutMs}`);
    }
    try {
      db.exec(schemaSql(table));
      addMissingColumns(db, table);
      const insert = db.prepare(insertSql(table));
      const insertRows = (rows: EncodedEvent[]) => {
        for (const r of rows) {
          insert.run(
            r.env,
            r.internal_id,
            r.id,
            r.name,
            r.data,
            r.user,
            r.ts,
            r.v,
            r.received_at,
            r.source,
            r.source_id,
          );
        }
      };
      return {
        db,
        insertMany: db.transaction(insertRows),
        insertRows,
        // No savepoint per call: inside a savepoint SQLite copies every page it touches to a
        // sub-journal (measured ~50% more time per row). A call that throws rolls the whole
        // group back instead, and `flush` commits the others without it.
        insertGroup: db.transaction((group: Pending[]) => {
          for (const call of group) {
            try {
              insertRows(call.rows);
            } catch (error) {
              throw new CallFailed(call, error);
            }
          }
        }),
        get: db.prepare(getSql(table)),
        has: db.prepare(hasSql(table)).pluck(),
        deleteBatch: db.prepare(deleteBatchSql(table)),
        nextEnv: db.prepare(nextEnvSql(table)).pluck(),
        listEnvs: db.prepare(listEnvsSql(table)),
        list: new Map(),
      };
    } catch (error) {
      if (owned) db.close();
      throw error;
    }
  }

  async function use(op: string): Promise<Ready> {
    if (closed) throw new StoreError(DRIVER, "closed", `${op}: the store is closed`);
    if (ready) return ready;
    opening ??= open().then(
      (r) => {
        if (closed) {
          if (owned) r.db.close();
          throw new StoreError(DRIVER, "closed", `${op}: the store was closed while opening`);
        }
        ready = r;
        return r;
      },
      (error) => {
        opening = null; // try again on the next call
        throw toStoreError(`${op}: opening ${options.path ?? "the database"}`, error);
      },
    );
    return opening;
  }

  /** Queues the next flush: a turn of its own, or a part of the shared transaction. */
  function schedule(): void {
    flushScheduled = true;
    if (!shared) {
      setImmediate(flush);
      return;
    }
    let group: Pending[] = [];
    const part: SqliteCommitPart = {
      durable: synchronous === "FULL",
      write() {
        flushScheduled = false;
        group = queue;
        queue = [];
        if (group.length === 0) return;
        if (!ready) {
          const error = new StoreError(DRIVER, "closed", "append: the store was closed");
          for (const call of group) call.reject(error);
          group = [];
          return;
        }
        for (const call of group) ready.insertRows(call.rows);
      },
      committed() {
        for (const call of group) call.resolve();
      },
      alone() {
        // Rolled back with the other stores' work (or alone in this turn): commit these
        // appends in a transaction of their own, where a failing call fails alone.
        queue = group.concat(queue);
        group = [];
        flush();
      },
    };
    shared.join(part);
  }

  /** Commit every queued append in one transaction and settle each call. */
  function flush(): void {
    flushScheduled = false;
    const group = queue;
    queue = [];
    if (group.length === 0) return;
    const r = ready;
    if (!r) {
      const error = new StoreError(DRIVER, "closed", "append: the store was closed");
      for (const call of group) call.reject(error);
      return;
    }
    const events = group.reduce((n, call) => n + call.rows.length, 0);
    if (group.length === 1) {
      const call = group[0]!;
      try {
        r.insertMany.immediate(call.rows);
        call.resolve();
      } catch (error) {
        call.reject(toStoreError(`append of ${events} events`, error));
      }
      return;
    }
    try {
      r.insertGroup.immediate(group);
    } catch (error) {
      if (error instanceof CallFailed) {
        // Rolled back: the failing call fails alone; the others are committed without it, one
        // call per transaction (a rare path, kept linear even if several calls would fail).
        error.call.reject(toStoreError(`append of ${error.call.rows.length} events`, error.error));
        for (const call of group) {
          if (call === error.call) continue;
          try {
            r.insertMany.immediate(call.rows);
            call.resolve();
          } catch (e) {
            call.reject(toStoreError(`append of ${call.rows.length} events`, e));
          }
        }
        return;
      }
      // BEGIN or COMMIT failed: nothing of the group is stored.
      const failure = toStoreError(`append (group commit of ${group.length} calls)`, error);
      for (const call of group) call.reject(failure);
      return;
    }
    for (const call of group) call.resolve();
  }

  function listStatement(r: Ready, q: NormalizedListQuery): Statement {
    const shape: ListShape = {
      name: q.name != null,
      since: q.since != null,
      until: q.until != null,
      after: q.after != null,
    };
    const key = shapeKey(shape);
    let stmt = r.list.get(key);
    if (!stmt) {
      stmt = r.db.prepare(listSql(table, shape));
      r.list.set(key, stmt);
    }
    return stmt;
  }

  /** The opened store for a synchronous call in the caller's transaction. */
  function inTransaction(op: string): Ready {
    if (closed) throw new StoreError(DRIVER, "closed", `${op}: the store is closed`);
    if (!ready) throw new StoreError(DRIVER, "unavailable", `${op}: the store is not open yet`);
    return ready;
  }

  return {
    driver: DRIVER,

    appendInTransaction(events: readonly StoredEvent[]): void {
      const rows = encodeEvents(DRIVER, events);
      const r = inTransaction("appendInTransaction");
      try {
        r.insertRows(rows);
      } catch (error) {
        throw toStoreError(`append of ${rows.length} events`, error);
      }
    },

    hasInTransaction(internalIds: readonly string[], env: string): Set<string> {
      checkIds(DRIVER, internalIds, env);
      if (internalIds.length === 0) return new Set();
      const r = inTransaction("hasInTransaction");
      try {
        return new Set(r.has.all(env, JSON.stringify(internalIds)) as string[]);
      } catch (error) {
        throw toStoreError("has", error);
      }
    },

    async append(events: readonly StoredEvent[]): Promise<void> {
      const rows = encodeEvents(DRIVER, events);
      const r = await use("append");
      if (rows.length === 0) return;
      if (!groupCommit) {
        try {
          r.insertMany.immediate(rows);
        } catch (error) {
          throw toStoreError(`append of ${rows.length} events`, error);
        }
        return;
      }
      await new Promise<void>((resolve, reject) => {
        queue.push({ rows, resolve, reject });
        if (!flushScheduled) schedule();
      });
    },

    async get(internalId: string, env: string): Promise<StoredEvent | null> {
      checkEnv(DRIVER, "get", env);
      const r = await use("get");
      try {
        const row = r.get.get(env, internalId) as EventRow | undefined;
        return row ? decodeRow(row) : null;
      } catch (error) {
        throw toStoreError("get", error);
      }
    },

    async has(internalIds: readonly string[], env: string): Promise<Set<string>> {
      checkIds(DRIVER, internalIds, env);
      if (internalIds.length === 0) return new Set();
      const r = await use("has");
      try {
        return new Set(r.has.all(env, JSON.stringify(internalIds)) as string[]);
      } catch (error) {
        throw toStoreError("has", error);
      }
    },

    async list(query: ListQuery): Promise<ListPage> {
      const q = normalizeListQuery(DRIVER, query);
      const r = await use("list");
      const params: unknown[] = [q.env];
      if (q.name != null) params.push(q.name);
      if (q.since != null) params.push(q.since);
      if (q.until != null) params.push(q.until);
      if (q.after) params.push(q.after.receivedAt, q.after.internalId);
      params.push(q.limit + 1);
      try {
        // Rows are read one at a time and the statement is released as soon as the page is
        // full (by count or by bytes): a page of large events never loads `limit` of them.
        const rows = listStatement(r, q).iterate(...params) as IterableIterator<EventRow>;
        return collectPage(rows, q.limit, q.maxBytes);
      } catch (error) {
        throw toStoreError("list", error);
      }
    },

    async listEnvs(): Promise<EnvSummary[]> {
      const r = await use("listEnvs");
      try {
        const rows = r.listEnvs.all() as { env: string; events: number; last: number }[];
        return rows.map((row) => ({ env: row.env, events: row.events, lastReceivedAt: row.last }));
      } catch (error) {
        throw toStoreError("listEnvs", error);
      }
    },

    async deleteReceivedBefore(cutoffMs: number): Promise<number> {
      const cutoff = checkCutoff(DRIVER, cutoffMs);
      const r = await use("deleteReceivedBefore");
      let deleted = 0;
      try {
        let env = r.nextEnv.get("") as string | null;
        while (env != null) {
          for (;;) {
            const { changes } = r.deleteBatch.run(env, cutoff, RETENTION_BATCH);
            deleted += changes;
            if (changes < RETENTION_BATCH) break;
            // Let other work (appends, requests) run between batches.
            await new Promise((resolve) => setImmediate(resolve));
            if (closed) return deleted;
          }
          env = r.nextEnv.get(env) as string | null;
        }
        return deleted;
      } catch (error) {
        throw toStoreError("deleteReceivedBefore", error);
      }
    },

    async ping(): Promise<void> {
      const r = await use("ping");
      try {
        r.db.prepare("SELECT 1").get();
      } catch (error) {
        throw toStoreError("ping", error);
      }
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const r = ready ?? (await opening?.catch(() => null));
      flush(); // appends accepted before close() are committed, not dropped
      ready = null;
      if (r && owned && r.db.open) r.db.close();
    },
  };
}

/** Alias of {@link createSqliteStore} that reads well next to `@evt/dedup`'s SQLite store. */
export const createSqliteEventStore = createSqliteStore;
