import { join } from "node:path";
import {
  createMemoryStore,
  createPostgresStore,
  createRedisStore,
  createSqliteStore,
  type DedupStore,
} from "@evt/dedup";
import {
  createMemoryEventStore,
  createPostgresEventStore,
  createSqliteEventStore,
  type EventStore,
} from "@evt/store";
import { driverName, type GatewayConfig } from "./config";
import { prepareDataDir } from "./data-dir";
import { openSqliteThread } from "./sqlite-thread";

/** The two stores a gateway composes; the gateway owns and closes them. */
export interface GatewayStores {
  dedup: DedupStore;
  store: EventStore;
}

/** File names of the SQLite drivers inside the data folder. */
export const SQLITE_FILES = { dedup: "dedup.sqlite", store: "events.sqlite" } as const;

/**
 * Opens the dedup store and the event store the configuration names. SQLite files live in
 * `dataDir` (created `0700` if missing; files `0600`); PostgreSQL tables get `pgTablePrefix` when set.
 */
export function openStores(config: GatewayConfig): GatewayStores {
  const usesSqlite = config.dedup === "sqlite" || config.store === "sqlite";
  if (usesSqlite) {
    const files = [
      ...(config.dedup === "sqlite" ? [SQLITE_FILES.dedup] : []),
      ...(config.store === "sqlite" ? [SQLITE_FILES.store] : []),
    ];
    // Owner-only: the folder 0700 (when created), the SQLite files 0600.
    prepareDataDir(config.dataDir, files);
  }
  // SQLite in worker threads, one per file, each running the ordinary driver: the HTTP thread
  // never runs a statement, a commit or an fsync, and dedup and store work in parallel.
  const thread = config.sqliteThread;
  const threaded = {
    dedup:
      thread && config.dedup === "sqlite"
        ? openSqliteThread({
            dedupPath: join(config.dataDir, SQLITE_FILES.dedup),
            storePath: null,
            callTimeoutMs: config.sqliteTimeoutMs,
          }).dedup
        : null,
    store:
      thread && config.store === "sqlite"
        ? openSqliteThread({
            dedupPath: null,
            storePath: join(config.dataDir, SQLITE_FILES.store),
            callTimeoutMs: config.sqliteTimeoutMs,
          }).store
        : null,
  };

  let dedup: DedupStore;
  switch (driverName(config.dedup)) {
    case "memory":
      dedup = createMemoryStore();
      break;
    case "sqlite":
      dedup =
        threaded.dedup ?? createSqliteStore({ path: join(config.dataDir, SQLITE_FILES.dedup) });
      break;
    case "redis":
      dedup = createRedisStore({
        url: config.dedup,
        ...(config.redisPrefix ? { prefix: config.redisPrefix } : {}),
      });
      break;
    default:
      dedup = createPostgresStore({
        url: config.dedup,
        ...(config.pgTablePrefix ? { table: `${config.pgTablePrefix}dedup` } : {}),
      });
  }

  let store: EventStore;
  try {
    switch (driverName(config.store)) {
      case "memory":
        store = createMemoryEventStore();
        break;
      case "sqlite":
        store =
          threaded.store ??
          createSqliteEventStore({ path: join(config.dataDir, SQLITE_FILES.store) });
        break;
      default:
        store = createPostgresEventStore({
          url: config.store,
          ...(config.pgTablePrefix ? { table: `${config.pgTablePrefix}events` } : {}),
        });
    }
  } catch (err) {
    void dedup.close().catch(() => {});
    throw err;
  }
  return { dedup, store };
}
