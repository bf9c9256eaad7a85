export {
  createSqliteEventStore,
  createSqliteStore,
  type SqliteCommitPart,
  type SqliteDatabase,
  type SqliteEventStore,
  type SqliteSharedCommit,
  type SqliteStoreOptions,
} from "./drivers/sqlite";
export { StoreError, type StoreErrorCode } from "./errors";
export type { EventStore, ListPage, ListQuery, StoredEvent } from "./types";
