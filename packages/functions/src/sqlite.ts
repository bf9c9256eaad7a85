export {
  createSqliteRunStore,
  type SqliteDatabase,
  type SqliteRunStoreOptions,
} from "./drivers/sqlite";
export { FunctionsError, type FunctionsErrorCode } from "./errors";
export type * from "./run-store";
