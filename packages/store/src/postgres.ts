export {
  createPostgresEventStore,
  createPostgresStore,
  migratePostgresStore,
  migratePostgresStore as migrate,
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
  type PostgresEventStore,
  type PostgresStoreOptions,
} from "./drivers/postgres";
export { StoreError, type StoreErrorCode } from "./errors";
export type { EventStore, ListPage, ListQuery, StoredEvent } from "./types";
