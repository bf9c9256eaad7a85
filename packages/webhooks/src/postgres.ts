import type pg from "pg";
import { WebhooksError } from "./errors";
import { checkPrefix, importLib } from "./internal";
import type { WebhookStore } from "./store";
import type { WebhookSource } from "./types";

/** A query's answer, the parts this driver reads. */
export interface PgResult {
  rows: unknown[];
  rowCount: number | null;
}

/** A checked-out client of a {@link PgPool}. */
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

/** Options of {@link createPostgresWebhookStore}: give `connectionString` or `pool`. */
export interface PostgresWebhookStoreOptions {
  /** `postgres://user@host:5432/db`. */
  connectionString?: string;
  /** An existing pool to use instead; the store never ends it. */
  pool?: PgPool;
  /** Prefix of the table name (`<prefix>webhook_sources`). @default "evt_" */
  tablePrefix?: string;
  /** Connections of the pool the store opens. @default 2 */
  max?: number;
}

const DRIVER = "postgres";

/**
 * Webhook sources in PostgreSQL (pg, loaded on first use), shared by every gateway on the
 * database. One table, `<prefix>webhook_sources`, created on first use.
 *
 * @example
 * ```ts
 * import { createPostgresWebhookStore } from "@evt/webhooks/postgres";
 * const store = createPostgresWebhookStore({ connectionString: "postgres://postgres@127.0.0.1:5432/evt" });
 * console.log(await store.list());
 * ```
 */
export function createPostgresWebhookStore(options: PostgresWebhookStoreOptions): WebhookStore {
  const table = `${checkPrefix(DRIVER, options.tablePrefix ?? "evt_")}webhook_sources`;
  if (options.connectionString === undefined && options.pool === undefined) {
    throw new WebhooksError(
      "invalid_source",
      "give connectionString (postgres://...) or pool (a pg.Pool)",
      { driver: DRIVER },
    );
  }
  let closed = false;
  let ready: Promise<pg.Pool> | null = null;
  const wrap = (err: unknown): WebhooksError =>
    err instanceof WebhooksError
      ? err
      : new WebhooksError("unavailable", `the webhook store failed: ${(err as Error).message}`, {
          driver: DRIVER,
          cause: err,
        });
  const open = (): Promise<pg.Pool> => {
    if (closed)
      return Promise.reject(new WebhooksError("closed", "the store is closed", { driver: DRIVER }));
    ready ??= (async () => {
      let pool = options.pool as pg.Pool | undefined;
      if (pool === undefined) {
        const lib = await importLib<typeof pg>(DRIVER, "pg", () => import("pg"));
        pool = new lib.Pool({ connectionString: options.connectionString, max: options.max ?? 2 });
        pool.on("error", () => {});
      }
      const ddl = `CREATE TABLE IF NOT EXISTS "${table}" (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, doc JSONB NOT NULL)`;
      try {
        await pool.query(ddl);
      } catch (err) {
        // Two stores creating the table at once: one wins, the other sees a duplicate.
        if (
          (err as { code?: string }).code !== "23505" &&
          (err as { code?: string }).code !== "42P07"
        )
          throw err;
      }
      return pool;
    })().catch((err: unknown) => {
      ready = null;
      throw wrap(err);
    });
    return ready;
  };
  const query = async (text: string, values: unknown[]) => {
    const pool = await open();
    try {
      return await pool.query(text, values);
    } catch (err) {
      throw wrap(err);
    }
  };
  return {
    driver: DRIVER,
    async create(source) {
      const r = await query(
        `INSERT INTO "${table}" (id, created_at, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
        [source.id, source.createdAt, JSON.stringify(source)],
      );
      if (r.rowCount === 0) {
        throw new WebhooksError(
          "conflict",
          `a webhook source with id ${source.id.slice(0, 4)}... exists already`,
          { driver: DRIVER },
        );
      }
    },
    async get(id) {
      const r = await query(`SELECT doc FROM "${table}" WHERE id = $1`, [id]);
      return r.rows.length === 0 ? null : (r.rows[0].doc as WebhookSource);
    },
    async list() {
      const r = await query(`SELECT doc FROM "${table}" ORDER BY created_at, id`, []);
      return r.rows.map((row) => row.doc as WebhookSource);
    },
    async update(id, change) {
      const pool = await open();
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw wrap(err);
      }
      try {
        await client.query("BEGIN");
        const r = await client.query(`SELECT doc FROM "${table}" WHERE id = $1 FOR UPDATE`, [id]);
        if (r.rows.length === 0) {
          await client.query("ROLLBACK");
          return null;
        }
        let next: WebhookSource;
        try {
          next = { ...change(r.rows[0].doc as WebhookSource), id };
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        }
        await client.query(`UPDATE "${table}" SET doc = $2 WHERE id = $1`, [
          id,
          JSON.stringify(next),
        ]);
        await client.query("COMMIT");
        return next;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        if (err instanceof WebhooksError || !(err as { code?: string }).code) throw err;
        throw wrap(err);
      } finally {
        client.release();
      }
    },
    async delete(id) {
      const r = await query(`DELETE FROM "${table}" WHERE id = $1`, [id]);
      return (r.rowCount ?? 0) > 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (ready !== null && options.pool === undefined) {
        const pool = await ready.catch(() => null);
        await pool?.end();
      }
    },
  };
}
