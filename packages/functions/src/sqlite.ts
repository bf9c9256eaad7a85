export {
  createSqliteRunStore,
  type SqliteCommitPart,
  type SqliteDatabase,
  type SqliteRunStoreOptions,
  type SqliteSharedCommit,
} from "./drivers/sqlite";
export { FunctionsError, type FunctionsErrorCode } from "./errors";
export type * from "./run-store";
