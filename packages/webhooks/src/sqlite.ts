import type BetterSqlite3 from "better-sqlite3";
import { WebhooksError } from "./errors";
import { checkPrefix, importLib } from "./internal";
import type { WebhookStore } from "./store";
import type { WebhookSource } from "./types";

/**
 * The parts of a `better-sqlite3` `Database` this driver uses. Any `new Database(...)` fits; the
 * type is structural so that these declarations import nothing from `better-sqlite3` (a
 * TypeScript consumer needs neither it nor its types unless they use this driver).
 */
export interface SqliteDatabase {
  prepare(sql: string): unknown;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: (...args: never[]) => unknown): unknown;
  close(): unknown;
}

/** Options of {@link createSqliteWebhookStore}: give `path` or `database`. */
export interface SqliteWebhookStoreOptions {
  /** File to open (created if missing), in WAL mode. */
  path?: string;
  /** An open better-sqlite3 database to use instead; the store never closes it. */
  database?: SqliteDatabase;
  /** Prefix of the table name (`<prefix>webhook_sources`). @default "evt_" */
  tablePrefix?: string;
}

const DRIVER = "sqlite";

/**
 * Webhook sources in a SQLite file (better-sqlite3, loaded on first use). One table,
 * `<prefix>webhook_sources`, one row per source holding it as JSON.
 *
 * @example
 * ```ts
 * import { createSqliteWebhookStore } from "@evt/webhooks/sqlite";
 * const store = createSqliteWebhookStore({ path: "./data/webhooks.sqlite" });
 * console.log(await store.list());
 * ```
 */
export function createSqliteWebhookStore(options: SqliteWebhookStoreOptions): WebhookStore {
  const table = `${checkPrefix(DRIVER, options.tablePrefix ?? "evt_")}webhook_sources`;
  if (options.path === undefined && options.database === undefined) {
    throw new WebhooksError(
      "invalid_source",
      "give path (a file) or database (an open better-sqlite3 database)",
      { driver: DRIVER },
    );
  }
  let closed = false;
  let ready: Promise<BetterSqlite3.Database> | null = null;
  const open = () => {
    if (closed)
      return Promise.reject(new WebhooksError("closed", "the store is closed", { driver: DRIVER }));
    ready ??= (async () => {
      let db = options.database as BetterSqlite3.Database | undefined;
      if (db === undefined) {
        const Database = await importLib<typeof BetterSqlite3>(
          DRIVER,
          "better-sqlite3",
          () => import("better-sqlite3"),
        );
        try {
          db = new Database(options.path!);
          db.pragma("journal_mode = WAL");
          db.pragma("busy_timeout = 2000");
        } catch (cause) {
          throw new WebhooksError(
            "unavailable",
            `cannot open ${options.path}: ${(cause as Error).message}`,
            { driver: DRIVER, cause },
          );
        }
      }
      db.exec(
        `CREATE TABLE IF NOT EXISTS "${table}" (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL)`,
      );
      return db;
    })();
    return ready;
  };
  const run = async <T>(work: (db: BetterSqlite3.Database) => T): Promise<T> => {
    const db = await open();
    try {
      return work(db);
    } catch (err) {
      if (err instanceof WebhooksError) throw err;
      throw new WebhooksError(
        "unavailable",
        `the webhook store failed: ${(err as Error).message}`,
        { driver: DRIVER, cause: err },
      );
    }
  };
  const parse = (row: { doc: string } | undefined) =>
    row === undefined ? null : (JSON.parse(row.doc) as WebhookSource);
  return {
    driver: DRIVER,
    create: (source) =>
      run((db) => {
        const r = db
          .prepare(
            `INSERT INTO "${table}" (id, created_at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
          )
          .run(source.id, source.createdAt, JSON.stringify(source));
        if (r.changes === 0) {
          throw new WebhooksError(
            "conflict",
            `a webhook source with id ${source.id.slice(0, 4)}... exists already`,
            { driver: DRIVER },
          );
        }
      }),
    get: (id) =>
      run((db) =>
        parse(
          db.prepare(`SELECT doc FROM "${table}" WHERE id = ?`).get(id) as
            | { doc: string }
            | undefined,
        ),
      ),
    list: () =>
      run((db) =>
        (
          db.prepare(`SELECT doc FROM "${table}" ORDER BY created_at, id`).all() as {
            doc: string;
          }[]
        ).map((r) => JSON.parse(r.doc) as WebhookSource),
      ),
    update: (id, change) =>
      run((db) =>
        db
          .transaction(() => {
            const current = parse(
              db.prepare(`SELECT doc FROM "${table}" WHERE id = ?`).get(id) as
                | { doc: string }
                | undefined,
            );
            if (current === null) return null;
            const next = { ...change(current), id };
            db.prepare(`UPDATE "${table}" SET doc = ? WHERE id = ?`).run(JSON.stringify(next), id);
            return next;
          })
          .immediate(),
      ),
    delete: (id) =>
      run((db) => db.prepare(`DELETE FROM "${table}" WHERE id = ?`).run(id).changes > 0),
    async close() {
      if (closed) return;
      closed = true;
      if (ready !== null && options.database === undefined) {
        const db = await ready.catch(() => null);
        db?.close();
      }
    },
  };
}
