import type { Pool, PoolConfig } from "pg";
import { closedError, DedupError } from "../errors.js";
import { checkTimeout, importLib, withTimeout } from "../internal.js";
import type { ClaimResult, DedupStore } from "../types.js";
import { checkEntries, checkTtl, expand, planBatch } from "../validate.js";
import { claimSql, releaseSql, schemaSql, sweepSql } from "./postgres-sql.js";
import { checkNamespace, quoteTable } from "./sql-names.js";

/** A query result, as far as this driver reads it. */
export interface PgResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A client checked out of a pool (for the schema transaction). */
export interface PgPoolClient {
  query(text: string, values?: unknown[]): Promise<PgResult>;
  release(error?: Error | boolean): void;
}

/**
 * The parts of a `pg` `Pool` this driver uses. Any `new pg.Pool(...)` fits; the type is
 * structural so that these declarations import nothing from `pg` (a TypeScript consumer needs
 * neither it nor `@types/pg` unless they use this driver).
 */
export interface PgPool {
  query(text: string, values?: unknown[]): Promise<PgResult>;
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
}

/** Options of {@link createPostgresStore}: give `url` (the store owns a pool) or `pool`. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgres://user@127.0.0.1:5432/db`. */
  url?: string;
  /** A `pg.Pool` to use instead of `url`. The store never ends it. */
  pool?: PgPool;
  /** Table name, optionally `schema.table`. Created with its index on first use. @default "evt_dedup" */
  table?: string;
  /** Namespace column value, so several tenants can share one table. @default "" */
  namespace?: string;
  /**
   * Longest a call waits (connecting included) before rejecting with a retryable
   * `DedupError` (`unavailable`); also the server-side `statement_timeout` of an own pool.
   * @default 2000
   */
  timeoutMs?: number;
  /** Interval of the background sweep of expired rows; 0 disables it. @default 60_000 */
  sweepIntervalMs?: number;
  /** Rows deleted per sweep statement. @default 1000 */
  sweepBatch?: number;
  /**
   * Create the table `UNLOGGED`: no write-ahead log, so claims are cheaper, but PostgreSQL
   * empties the table after a crash (every window restarts). Only affects a table this store
   * creates.
   * @default false
   */
  unlogged?: boolean;
  /**
   * Extra `pg.Pool` options (`PoolConfig` of `pg`) for the pool made from `url` (e.g. `max`,
   * `ssl`). Typed `object` so that these declarations need no `@types/pg`.
   */
  poolOptions?: object;
}

/** The PostgreSQL store: a {@link DedupStore} plus schema and sweep controls. */
export interface PostgresStore extends DedupStore {
  /** Creates the table and its index if missing (safe to run concurrently). Claims call it once. */
  migrate(): Promise<void>;
  /** Deletes expired rows now, in batches, and resolves with how many went. */
  sweep(): Promise<number>;
}

const DRIVER = "postgres";
/** SQLSTATE classes and codes worth retrying: connection, resources, conflicts, cancel, shutdown. */
const RETRYABLE_SQLSTATE = /^(08|53|57P0|40001|40P01|55P03|57014|58)/;

/**
 * A deduplication store in PostgreSQL (pg, loaded on first use), shared by any number of
 * gateways. A batch is ONE `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE ...
 * RETURNING` statement; concurrent claims of one key from any number of connections yield
 * exactly one fresh result. Expired rows count as absent and are swept in the background.
 *
 * @example
 * ```ts
 * import { createPostgresStore } from "@evt/dedup/postgres";
 * const store = createPostgresStore({ url: "postgres://postgres@127.0.0.1:5432/app" });
 * const [r] = await store.claim([{ key: "order-1", value: "01J..." }], 86_400_000);
 * await store.close();
 * ```
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  if (!options || (options.url === undefined) === (options.pool === undefined)) {
    throw new DedupError("invalid_argument", "give exactly one of options.url or options.pool", {
      driver: DRIVER,
    });
  }
  const tableName = options.table ?? "evt_dedup";
  const T = quoteTable(DRIVER, tableName, true);
  const I = `"${tableName.split(".").pop()}_expires_at"`;
  const namespace = checkNamespace(DRIVER, options.namespace ?? "");
  const timeoutMs = checkTimeout(DRIVER, options.timeoutMs);
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const sweepBatch = options.sweepBatch ?? 1000;
  const owned = options.pool === undefined;
  const sql = { claim: claimSql(T), release: releaseSql(T), sweep: sweepSql(T) };

  // structural in the options (see PgPool); the driver itself works with pg's own types
  let pool = options.pool as unknown as Pool | undefined;
  let creating: Promise<Pool> | undefined;
  let migrated: Promise<void> | undefined;
  let closed = false;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping = false;

  async function getPool(): Promise<Pool> {
    if (pool) return pool;
    creating ??= (async () => {
      const pg = await importLib<typeof import("pg")>(DRIVER, "pg", () => import("pg"));
      const p = new pg.Pool({
        connectionString: options.url,
        max: 10,
        connectionTimeoutMillis: timeoutMs,
        statement_timeout: timeoutMs,
        ...(options.poolOptions as PoolConfig | undefined),
      });
      p.on("error", () => {}); // an idle client lost its server: the pool drops it and reconnects
      pool = p;
      return p;
    })();
    creating.catch(() => {
      creating = undefined;
    });
    return creating;
  }

  async function migrate(): Promise<void> {
    const p = await getPool();
    const c = await p.connect();
    try {
      await c.query("BEGIN");
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; serialise them.
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`evt/dedup:${T}`]);
      await c.query(schemaSql(T, I, options.unlogged ?? false));
      await c.query("COMMIT");
    } catch (err) {
      await c.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  function ensureSchema(): Promise<void> {
    migrated ??= migrate().then(
      () => {
        if (sweepIntervalMs > 0 && !closed && !sweepTimer) {
          sweepTimer = setInterval(() => void sweep().catch(() => {}), sweepIntervalMs);
          sweepTimer.unref();
        }
      },
      (err: unknown) => {
        migrated = undefined;
        throw err;
      },
    );
    return migrated;
  }

  async function run<T>(what: string, work: (p: Pool) => Promise<T>): Promise<T> {
    if (closed) throw closedError(DRIVER);
    try {
      return await withTimeout(
        DRIVER,
        what,
        timeoutMs,
        ensureSchema().then(async () => work(await getPool())),
      );
    } catch (err) {
      throw toDedupError(err);
    }
  }

  async function sweep(): Promise<number> {
    if (sweeping) return 0;
    sweeping = true;
    let total = 0;
    try {
      for (;;) {
        const n = await run(
          "sweep",
          async (p) => (await p.query(sql.sweep, [sweepBatch])).rowCount ?? 0,
        );
        total += n;
        if (n < sweepBatch || closed) return total;
      }
    } finally {
      sweeping = false;
    }
  }

  return {
    driver: DRIVER,
    async claim(entries, ttlMs) {
      if (closed) throw closedError(DRIVER);
      checkEntries(entries, "claim");
      checkTtl(ttlMs);
      if (entries.length === 0) return [];
      const plan = planBatch(entries);
      const n = plan.unique.length;
      const keys = plan.unique.map((e) => Buffer.from(e.key, "utf8"));
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
        Buffer.compare(keys[a]!, keys[b]!),
      );
      const sortedKeys = order.map((i) => keys[i]!);
      const sortedValues = order.map((i) => Buffer.from(plan.unique[i]!.value, "utf8"));
      const rows = await run(`claim of ${n} keys`, async (p) => {
        const res = await p.query<{ key: Buffer; value: Buffer; fresh: boolean }>(sql.claim, [
          namespace,
          sortedKeys,
          sortedValues,
          ttlMs,
        ]);
        return res.rows;
      });
      if (rows.length !== n) {
        throw new DedupError("internal", `claim of ${n} keys returned ${rows.length} rows`, {
          driver: DRIVER,
        });
      }
      const index = new Map<string, number>();
      for (let i = 0; i < n; i++) index.set(keys[i]!.toString("latin1"), i);
      const results = new Array<ClaimResult>(n);
      for (const row of rows) {
        const i = index.get(row.key.toString("latin1"));
        if (i === undefined) {
          throw new DedupError("internal", "claim returned a key that was not asked for", {
            driver: DRIVER,
          });
        }
        results[i] = row.fresh
          ? { fresh: true }
          : { fresh: false, value: row.value.toString("utf8") };
      }
      return expand(plan, results);
    },
    async release(entries) {
      if (closed) throw closedError(DRIVER);
      checkEntries(entries, "release");
      if (entries.length === 0) return;
      await run(`release of ${entries.length} keys`, (p) =>
        p.query(sql.release, [
          namespace,
          entries.map((e) => Buffer.from(e.key, "utf8")),
          entries.map((e) => Buffer.from(e.value, "utf8")),
        ]),
      );
    },
    async ping() {
      await run("ping", (p) => p.query("SELECT 1"));
    },
    async migrate() {
      await run("migrate", async () => {});
    },
    sweep,
    async close() {
      if (closed) return;
      closed = true;
      if (sweepTimer) clearInterval(sweepTimer);
      if (!owned) return;
      const p = await creating?.catch(() => undefined);
      await p?.end().catch(() => {});
    },
  };
}

function toDedupError(err: unknown): DedupError {
  if (err instanceof DedupError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !RETRYABLE_SQLSTATE.test(code)) {
    return new DedupError("internal", `PostgreSQL refused the statement (${code}): ${e.message}`, {
      driver: DRIVER,
      cause: err,
    });
  }
  const detail = typeof code === "string" ? ` (${code})` : "";
  return new DedupError(
    "unavailable",
    `PostgreSQL did not answer${detail}: ${e.message || e.name}; the outcome is unknown, retry later`,
    { driver: DRIVER, cause: err },
  );
}
