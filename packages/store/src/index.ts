export {
  createMemoryEventStore,
  createMemoryStore,
  type MemoryStoreOptions,
} from "./drivers/memory";
export {
  createPostgresEventStore,
  createPostgresStore,
  migratePostgresStore,
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
  type PostgresEventStore,
  type PostgresStoreOptions,
} from "./drivers/postgres";
export {
  createSqliteEventStore,
  createSqliteStore,
  type SqliteCommitPart,
  type SqliteDatabase,
  type SqliteEventStore,
  type SqliteSharedCommit,
  type SqliteStoreOptions,
} from "./drivers/sqlite";
export { isStoreError, StoreError, type StoreErrorCode, type StoreErrorOptions } from "./errors";
export { DEFAULT_MAX_PAGE_BYTES, MAX_LIST_LIMIT } from "./query";
export type { EnvSummary, EventStore, ListPage, ListQuery, StoredEvent } from "./types";

/** Name of this package. */
export const PACKAGE_NAME = "@evt/store";
