export {
  createPostgresStore,
  type PgPool,
  type PgPoolClient,
  type PgResult,
  type PostgresStore,
  type PostgresStoreOptions,
} from "./drivers/postgres.js";
export { DedupError, type DedupErrorCode } from "./errors.js";
export type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";
