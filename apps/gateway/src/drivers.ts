import { join } from "node:path";
import {
  createMemoryStore,
  createPostgresStore,
  createRedisStore,
  createSqliteStore,
  type DedupStore,
  type SqliteStore,
} from "@evt/dedup";
import type { RunStore } from "@evt/functions";
import type { ingest } from "@evt/server";
import {
  createMemoryEventStore,
  createPostgresEventStore,
  createSqliteEventStore,
  type EventStore,
  type SqliteEventStore,
} from "@evt/store";
import { driverName, type GatewayConfig, sqliteInWorker } from "./config";
import { prepareDataDir } from "./data-dir";
import {
  openSqliteFile,
  SPLIT_FILES,
  SQLITE_FILE,
  type SqliteFileStores,
  sqliteLayout,
} from "./sqlite-file";
import { createFileIngest, fileIngestInProcess } from "./sqlite-ingest";
import { openSqliteThread } from "./sqlite-thread";

/** The stores a gateway composes; the gateway owns and closes them. */
export interface GatewayStores {
  dedup: DedupStore;
  store: EventStore;
  /**
   * The run store, when {@link openStores} was asked for it and opened it in the same SQLite
   * file (`--runs sqlite` in a one-file data folder); otherwise the gateway opens its own.
   */
  runs?: RunStore;
  /**
   * The store step of a request for `createEventApi({ ingest })`, when dedup and store share
   * the SQLite worker thread: one message to it per request.
   */
  ingest?: typeof ingest;
}

/**
 * File names of the SQLite drivers inside the data folder in the earlier layout (a file per
 * store), still used for a data folder that has them; a new folder holds {@link SQLITE_FILE}.
 */
export const SQLITE_FILES = { dedup: SPLIT_FILES.dedup, store: SPLIT_FILES.store } as const;

/**
 * Opens the dedup store and the event store the configuration names (and the run store when
 * `withRuns` and `runs` is sqlite, if it shares their file). SQLite files live in `dataDir`
 * (created `0700` if missing; files `0600`): one file, {@link SQLITE_FILE}, on one connection
 * with one commit per turn for every store on SQLite, or, for a data folder written by an
 * earlier version (see {@link sqliteLayout}), a file per store. PostgreSQL tables get
 * `pgTablePrefix` when set.
 */
export function openStores(config: GatewayConfig, withRuns = false): GatewayStores {
  const usesSqlite = config.dedup === "sqlite" || config.store === "sqlite";
  const want = {
    dedup: config.dedup === "sqlite",
    store: config.store === "sqlite",
    runs: withRuns && driverName(config.runs) === "sqlite",
  };
  const oneFile = (usesSqlite || want.runs) && sqliteLayout(config.dataDir) === "one";
  const inWorker = sqliteInWorker(config);
  let shared: (SqliteFileStores & { ingest?: typeof ingest | null }) | null = null;
  if (oneFile) {
    // Owner-only: the folder 0700 (when created), the SQLite file 0600.
    prepareDataDir(config.dataDir, [SQLITE_FILE]);
    const path = join(config.dataDir, SQLITE_FILE);
    // In a worker thread when there is a CPU for it: the HTTP thread never runs a statement
    // or a commit. Either way the stores share one connection and commit together, and a
    // request's claim and append are one part of that commit.
    if (inWorker) {
      shared = openSqliteThread({
        dedupPath: want.dedup ? path : null,
        storePath: want.store ? path : null,
        runsPath: want.runs ? path : null,
        oneFile: true,
        callTimeoutMs: config.sqliteTimeoutMs,
      });
    } else {
      const file = openSqliteFile(path, want);
      const { dedup, store, sharedCommit, writeAlone } = file;
      shared = {
        ...file,
        ingest:
          dedup && store && sharedCommit && writeAlone
            ? fileIngestInProcess(
                createFileIngest({
                  dedup: dedup as SqliteStore,
                  store: store as SqliteEventStore,
                  sharedCommit,
                  writeAlone,
                }),
              )
            : null,
      };
    }
  } else if (usesSqlite) {
    const files = [
      ...(want.dedup ? [SQLITE_FILES.dedup] : []),
      ...(want.store ? [SQLITE_FILES.store] : []),
    ];
    // Owner-only: the folder 0700 (when created), the SQLite files 0600.
    prepareDataDir(config.dataDir, files);
  }
  // The earlier layout: SQLite in worker threads, one per file, each running the ordinary
  // driver, so dedup and store work in parallel.
  const thread = inWorker && !oneFile;
  const threaded = {
    dedup:
      shared?.dedup ??
      (thread && want.dedup
        ? openSqliteThread({
            dedupPath: join(config.dataDir, SQLITE_FILES.dedup),
            storePath: null,
            callTimeoutMs: config.sqliteTimeoutMs,
          }).dedup
        : null),
    store:
      shared?.store ??
      (thread && want.store
        ? openSqliteThread({
            dedupPath: null,
            storePath: join(config.dataDir, SQLITE_FILES.store),
            callTimeoutMs: config.sqliteTimeoutMs,
          }).store
        : null),
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
    void shared?.runs?.close().catch(() => {});
    throw err;
  }
  return {
    dedup,
    store,
    ...(shared?.runs ? { runs: shared.runs } : {}),
    ...(shared?.ingest ? { ingest: shared.ingest } : {}),
  };
}
