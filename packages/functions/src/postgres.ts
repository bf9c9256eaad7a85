export {
  createPostgresRunStore,
  type PgPool,
  type PgPoolClient,
  type PgQueryConfig,
  type PgResult,
  type PostgresRunStore,
  type PostgresRunStoreOptions,
} from "./drivers/postgres";
export { FunctionsError, type FunctionsErrorCode } from "./errors";
export type * from "./run-store";
