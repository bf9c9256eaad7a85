export { createMemoryStore, type MemoryStoreOptions } from "./drivers/memory.js";
export {
  createPostgresStore,
  type PgPool,
  type PgPoolClient,
  type PgResult,
  type PostgresStore,
  type PostgresStoreOptions,
} from "./drivers/postgres.js";
export { createRedisStore, type RedisClient, type RedisStoreOptions } from "./drivers/redis.js";
export {
  createSqliteStore,
  type SqliteCommitPart,
  type SqliteDatabase,
  type SqliteSharedCommit,
  type SqliteStore,
  type SqliteStoreOptions,
} from "./drivers/sqlite.js";
export {
  DedupError,
  type DedupErrorCode,
  type DedupErrorOptions,
  isDedupError,
} from "./errors.js";
export type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";
export { MAX_KEY_LENGTH, MAX_VALUE_LENGTH } from "./validate.js";
