export {
  createSqliteStore,
  type SqliteCommitPart,
  type SqliteDatabase,
  type SqliteSharedCommit,
  type SqliteStore,
  type SqliteStoreOptions,
} from "./drivers/sqlite.js";
export { DedupError, type DedupErrorCode } from "./errors.js";
export type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";
