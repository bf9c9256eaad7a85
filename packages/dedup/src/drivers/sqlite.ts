import type BetterSqlite3 from "better-sqlite3";
import { closedError, DedupError } from "../errors.js";
import { checkTimeout, importLib } from "../internal.js";
import type { ClaimEntry, ClaimResult, DedupStore } from "../types.js";
import { checkEntries, checkTtl, expand, planBatch } from "../validate.js";
import { checkNamespace, quoteTable } from "./sql-names.js";

type Database = BetterSqlite3.Database;

/**
 * The parts of a `better-sqlite3` `Database` this driver uses. Any `new Database(...)` from
 * `better-sqlite3` fits; the type is structural so that these declarations import nothing from
 * `better-sqlite3` (a TypeScript consumer needs neither it nor `@types/better-sqlite3` unless
 * they use this driver).
 */
export interface SqliteDatabase {
  prepare(sql: string): unknown;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: (...args: never[]) => unknown): unknown;
  close(): unknown;
  readonly open: boolean;
}

/**
 * One transaction shared by several stores on one connection, committed once per turn of the
 * event loop (the gateway's coordinator fits; any object with this `join` does). The type is
 * structural so that packages sharing a file import nothing from each other.
 */
export interface SqliteSharedCommit {
  /** Adds `part` to the next shared transaction (a coordinator runs it in a later turn). */
  join(part: SqliteCommitPart): void;
}

/** What a store contributes to a {@link SqliteSharedCommit}. */
export interface SqliteCommitPart {
  /** Runs the store's statements inside the open shared transaction; a throw rolls it all back. */
  write(): void;
  /** The shared transaction holding this part's `write` committed. */
  committed(): void;
  /** The shared transaction was rolled back (or the part is alone): commit on your own now. */
  alone(): void;
  /**
   * `false`: the part needs no fsync at its commit (`synchronous=NORMAL`: it survives a crash
   * of the process, not a power loss), so a turn holding only such parts may commit without
   * one. @default true
   */
  durable?: boolean;
}

/** Options of {@link createSqliteStore}: give `path` (the store opens the file) or `database`. */
export interface SqliteStoreOptions {
  /** File to open (created if missing). `":memory:"` works but is not shared between processes. */
  path?: string;
  /**
   * An open better-sqlite3 database to use instead of `path`. The store leaves its pragmas
   * alone and never closes it (you do).
   */
  database?: SqliteDatabase;
  /** Table name (a plain identifier). @default "evt_dedup" */
  table?: string;
  /** Namespace column value, so several tenants can share one table. @default "" */
  namespace?: string;
  /**
   * `PRAGMA synchronous` for a file the store opens (always in WAL mode). `normal` survives a
   * crash of the process without losing a committed claim and never corrupts the file; only a
   * power loss or OS crash may roll back the last claims. `full` also survives those, at the
   * cost of an fsync per claim batch.
   * @default "normal"
   */
  synchronous?: "normal" | "full";
  /**
   * How long a claim waits for another process holding the write lock (`busy_timeout`)
   * before rejecting with a retryable `DedupError`.
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * With `database`: commit claims in this shared transaction (one commit with the other
   * stores on the connection) instead of a transaction of their own. A claim still resolves
   * only after the commit that holds it; `synchronous` tells the coordinator whether its
   * commit needs an fsync.
   */
  sharedCommit?: SqliteSharedCommit;
  /** Interval of the background sweep of expired rows; 0 disables it. @default 60_000 */
  sweepIntervalMs?: number;
  /** Rows deleted per sweep step (each step is a short transaction). @default 500 */
  sweepBatch?: number;
}

interface Prepared {
  db: Database;
  claimMany: (keys: Buffer[], values: string[], now: number, expiresAt: number) => ClaimResult[];
  /** Several calls' claims in one transaction; throws {@link CallFailed} if one call failed. */
  claimGroup: (group: PendingClaim[], now: number) => void;
  /** Claims rows without a transaction of its own (inside a shared one). */
  claimRows: (keys: Buffer[], values: string[], now: number, expiresAt: number) => ClaimResult[];
  releaseMany: (keys: Buffer[], values: string[]) => void;
  sweepStep: (now: number) => number;
}

/** Thrown out of a group transaction (rolling it back) by the call that failed in it. */
class CallFailed {
  constructor(
    readonly call: PendingClaim,
    readonly error: unknown,
  ) {}
}

/** A claim waiting for the next group commit. */
interface PendingClaim {
  keys: Buffer[];
  values: string[];
  ttlMs: number;
  results?: ClaimResult[];
  settle: (error: unknown) => void;
}

const DRIVER = "sqlite";
/** Most keys one group commit puts in one transaction (a single larger call still goes alone). */
const GROUP_KEYS = 1_000;

/** The SQLite store: a {@link DedupStore} plus a manual sweep. */
export interface SqliteStore extends DedupStore {
  /** Deletes expired rows now (in small transactions) and resolves with how many went. */
  sweep(): Promise<number>;
  /**
   * Claims `entries` synchronously in the transaction the caller holds open on the shared
   * `database` (the `write()` of a `sharedCommit` part that also writes other stores): the rows
   * are written, nothing is committed or rolled back here, and the results are final only once
   * the caller's transaction commits. Throws a `DedupError` on bad input, if the store is not
   * open yet (any awaited call opens it, e.g. `claim([], ttlMs)`) or if SQLite fails (the caller
   * then rolls its transaction back).
   */
  claimInTransaction(entries: readonly ClaimEntry[], ttlMs: number, now?: number): ClaimResult[];
}

/**
 * A deduplication store in a SQLite file (better-sqlite3, loaded on first use): durable across
 * restarts and shareable by several processes on one machine. WAL mode; each claim batch is one
 * `BEGIN IMMEDIATE` transaction, shared with the other claims made in the same turn of the event
 * loop (group commit; a call that fails, fails alone); an expired row counts as absent and is
 * taken over; expired rows are deleted in the background in small batches.
 *
 * @example
 * ```ts
 * import { createSqliteStore } from "@evt/dedup/sqlite";
 * const store = createSqliteStore({ path: "./dedup.db" });
 * const [r] = await store.claim([{ key: "order-1", value: "01J..." }], 86_400_000);
 * await store.close();
 * ```
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  if (!options || (options.path === undefined) === (options.database === undefined)) {
    throw new DedupError(
      "invalid_argument",
      "give exactly one of options.path or options.database",
      {
        driver: DRIVER,
      },
    );
  }
  const table = quoteTable(DRIVER, options.table ?? "evt_dedup", false);
  const namespace = checkNamespace(DRIVER, options.namespace ?? "");
  const timeoutMs = checkTimeout(DRIVER, options.timeoutMs);
  const synchronous = options.synchronous ?? "normal";
  if (synchronous !== "normal" && synchronous !== "full") {
    throw new DedupError(
      "invalid_argument",
      `options.synchronous must be "normal" or "full", got ${String(synchronous)}`,
      { driver: DRIVER },
    );
  }
  const shared = options.sharedCommit;
  if (
    shared !== undefined &&
    (options.database === undefined || typeof shared?.join !== "function")
  ) {
    throw new DedupError(
      "invalid_argument",
      "options.sharedCommit needs options.database and an object with a join(part) method",
      { driver: DRIVER },
    );
  }
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const sweepBatch = options.sweepBatch ?? 500;

  let ready: Promise<Prepared> | undefined;
  /** The opened store, once `ready` has resolved (what a synchronous flush uses). */
  let prepared: Prepared | undefined;
  let closed = false;
  let sweepTimer: NodeJS.Timeout | undefined;

  async function open(): Promise<Prepared> {
    let db: Database;
    if (options.database) {
      db = options.database as unknown as Database; // structural in the options, see SqliteDatabase
    } else {
      const Database = await importLib<typeof BetterSqlite3>(
        DRIVER,
        "better-sqlite3",
        () => import("better-sqlite3"),
      );
      db = new Database(options.path!);
      db.pragma(`busy_timeout = ${timeoutMs}`);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
    }
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (
        namespace TEXT NOT NULL,
        key BLOB NOT NULL,
        value TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${table.slice(0, -1)}_expires_at" ON ${table} (expires_at);`,
    );
    // A claim is won when the statement inserted the row or took over an expired one: it then
    // changed exactly one row (`changes`). Read that instead of `RETURNING`, which costs each
    // key ~35% more (SQLite buffers RETURNING rows and better-sqlite3 builds an object per row).
    const upsert = db.prepare(
      `INSERT INTO ${table} (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
       WHERE ${table}.expires_at <= ?`,
    );
    const select = db.prepare(`SELECT value FROM ${table} WHERE namespace = ? AND key = ?`).pluck();
    const remove = db.prepare(`DELETE FROM ${table} WHERE namespace = ? AND key = ? AND value = ?`);
    const sweep = db.prepare(
      `DELETE FROM ${table} WHERE (namespace, key) IN
       (SELECT namespace, key FROM ${table} WHERE expires_at <= ? LIMIT ?)`,
    );
    const claimRows = (
      keys: Buffer[],
      values: string[],
      now: number,
      expiresAt: number,
    ): ClaimResult[] => {
      const out = new Array<ClaimResult>(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const { changes } = upsert.run(namespace, keys[i], values[i], expiresAt, now);
        if (changes > 0) out[i] = { fresh: true };
        else out[i] = { fresh: false, value: select.get(namespace, keys[i]) as string };
      }
      return out;
    };
    const claimTx = db.transaction(claimRows);
    // Group commit: claims made in the same turn of the event loop (concurrent requests) share
    // one transaction, so they pay one BEGIN IMMEDIATE/COMMIT (and one WAL write of each touched
    // page) instead of one each. Calls run in the order they were made, so a later call sees an
    // earlier call's claims exactly as it would after that call's own commit. No savepoint per
    // call (a savepoint makes SQLite copy every page it touches to a sub-journal, ~50% more time
    // per key): if a call throws, the whole transaction rolls back and `commit` runs the group
    // again without that call, which fails alone.
    const claimGroupTx = db.transaction((group: PendingClaim[], now: number): void => {
      for (const call of group) {
        try {
          call.results = claimRows(call.keys, call.values, now, now + call.ttlMs);
        } catch (err) {
          throw new CallFailed(call, err);
        }
      }
    });
    const releaseTx = db.transaction((keys: Buffer[], values: string[]) => {
      for (let i = 0; i < keys.length; i++) remove.run(namespace, keys[i], values[i]);
    });
    if (sweepIntervalMs > 0) {
      sweepTimer = setInterval(() => void sweepAll(), sweepIntervalMs);
      sweepTimer.unref();
    }
    return {
      db,
      claimMany: (k, v, now, exp) => claimTx.immediate(k, v, now, exp),
      claimGroup: (group, now) => claimGroupTx.immediate(group, now),
      claimRows,
      releaseMany: (k, v) => releaseTx.immediate(k, v),
      sweepStep: (now) => sweep.run(now, sweepBatch).changes,
    };
  }

  let queue: PendingClaim[] = [];
  let flushScheduled = false;

  /** Queues the next flush: a turn of its own, or a part of the shared transaction. */
  function schedule(): void {
    flushScheduled = true;
    if (!shared) {
      setImmediate(flush);
      return;
    }
    let group: PendingClaim[] = [];
    shared.join({
      durable: synchronous === "full",
      write() {
        flushScheduled = false;
        group = queue;
        queue = [];
        if (group.length === 0) return;
        if (!prepared) {
          for (const call of group) call.settle(closedError(DRIVER));
          group = [];
          return;
        }
        const now = Date.now();
        for (const call of group)
          call.results = prepared.claimRows(call.keys, call.values, now, now + call.ttlMs);
      },
      committed() {
        for (const call of group) call.settle(null);
      },
      alone() {
        if (group.length === 0) {
          flush();
          return;
        }
        // Rolled back with the other stores' work: commit these claims on their own (where a
        // failing call fails alone), then whatever was queued meanwhile.
        const again = group;
        group = [];
        for (const call of again) delete call.results;
        queue = again.concat(queue);
        flush();
      },
    });
  }

  /**
   * Commits every queued claim and settles each: one transaction per run of calls holding up to
   * {@link GROUP_KEYS} keys (so one transaction's dirty pages stay within the page cache).
   */
  function flush(): void {
    flushScheduled = false;
    const all = queue;
    queue = [];
    for (let i = 0; i < all.length; ) {
      let keys = all[i]!.keys.length;
      let j = i + 1;
      while (j < all.length && keys + all[j]!.keys.length <= GROUP_KEYS)
        keys += all[j++]!.keys.length;
      commit(all.slice(i, j));
      i = j;
    }
  }

  function commit(group: PendingClaim[]): void {
    if (group.length === 0) return;
    if (!prepared) {
      for (const call of group) call.settle(closedError(DRIVER));
      return;
    }
    const now = Date.now();
    if (group.length === 1) {
      const call = group[0]!;
      try {
        call.results = prepared.claimMany(call.keys, call.values, now, now + call.ttlMs);
        call.settle(null);
      } catch (err) {
        call.settle(err);
      }
      return;
    }
    try {
      prepared.claimGroup(group, now);
    } catch (err) {
      if (err instanceof CallFailed) {
        // Rolled back: the failing call fails alone; the others are committed without it, one
        // call per transaction (a rare path, kept linear even if several calls would fail).
        err.call.settle(err.error);
        for (const call of group) if (call !== err.call) commit([call]);
      } else {
        // BEGIN or COMMIT failed: none of the group's claims is stored.
        for (const call of group) call.settle(err);
      }
      return;
    }
    for (const call of group) call.settle(null);
  }

  let sweeping = false;
  /** Deletes expired rows in small transactions, yielding to claims between steps. */
  async function sweepAll(): Promise<number> {
    if (sweeping || closed) return 0;
    sweeping = true;
    let total = 0;
    try {
      const p = await get();
      for (;;) {
        if (closed) break;
        const n = p.sweepStep(Date.now());
        total += n;
        if (n < sweepBatch) break;
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch {
      // busy or closed: the next interval tries again
    } finally {
      sweeping = false;
    }
    return total;
  }

  function get(): Promise<Prepared> {
    if (closed) return Promise.reject(closedError(DRIVER));
    ready ??= open().then(
      (p) => {
        prepared = p;
        return p;
      },
      (err: unknown) => {
        ready = undefined;
        throw toDedupError(err, `opening ${options.path ?? "the given database"}: `);
      },
    );
    return ready;
  }

  const store: SqliteStore = {
    driver: DRIVER,
    async claim(entries, ttlMs) {
      checkEntries(entries, "claim");
      checkTtl(ttlMs);
      await get();
      if (entries.length === 0) return [];
      const plan = planBatch(entries);
      const keys = plan.unique.map((e) => Buffer.from(e.key, "utf8"));
      const values = plan.unique.map((e) => e.value);
      const results = await new Promise<ClaimResult[]>((resolve, reject) => {
        const call: PendingClaim = {
          keys,
          values,
          ttlMs,
          settle: (err) => (err == null ? resolve(call.results!) : reject(toDedupError(err))),
        };
        queue.push(call);
        if (!flushScheduled) schedule();
      });
      return expand(plan, results);
    },
    async release(entries) {
      checkEntries(entries, "release");
      const p = await get();
      if (entries.length === 0) return;
      flush(); // claims made before this release are committed before it runs
      try {
        p.releaseMany(
          entries.map((e) => Buffer.from(e.key, "utf8")),
          entries.map((e) => e.value),
        );
      } catch (err) {
        throw toDedupError(err);
      }
    },
    async ping() {
      const p = await get();
      try {
        p.db.prepare("SELECT 1").get();
      } catch (err) {
        throw toDedupError(err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (sweepTimer) clearInterval(sweepTimer);
      const p = await ready?.catch(() => undefined);
      flush(); // claims accepted before close() are committed, not dropped
      prepared = undefined;
      if (p && !options.database) p.db.close();
    },
    sweep: sweepAll,
    claimInTransaction(entries, ttlMs, now = Date.now()) {
      checkEntries(entries, "claim");
      checkTtl(ttlMs);
      if (!prepared || closed) {
        throw closed
          ? closedError(DRIVER)
          : new DedupError("unavailable", "claimInTransaction: the store is not open yet", {
              driver: DRIVER,
            });
      }
      if (entries.length === 0) return [];
      const plan = planBatch(entries);
      const keys = plan.unique.map((e) => Buffer.from(e.key, "utf8"));
      const values = plan.unique.map((e) => e.value);
      try {
        return expand(plan, prepared.claimRows(keys, values, now, now + ttlMs));
      } catch (err) {
        throw toDedupError(err);
      }
    },
  };
  return store;
}

/** `where` prefixes the message, e.g. `opening ./dedup.db: ` when the file could not be opened. */
function toDedupError(err: unknown, where = ""): DedupError {
  if (err instanceof DedupError) return err;
  const code = (err as { code?: unknown })?.code;
  const msg = `${where}${err instanceof Error ? err.message : String(err)}`;
  if (
    typeof code === "string" &&
    (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
  ) {
    return new DedupError(
      "unavailable",
      `the database is locked by another writer (${code}): ${msg}; retry later`,
      { driver: DRIVER, cause: err },
    );
  }
  if (
    typeof code === "string" &&
    (code.startsWith("SQLITE_IOERR") ||
      code.startsWith("SQLITE_CANTOPEN") ||
      code === "SQLITE_FULL")
  ) {
    return new DedupError("unavailable", `the database file cannot be used (${code}): ${msg}`, {
      driver: DRIVER,
      cause: err,
    });
  }
  return new DedupError(
    "internal",
    `unexpected SQLite error${typeof code === "string" ? ` (${code})` : ""}: ${msg}`,
    { driver: DRIVER, cause: err },
  );
}
