export { createMemoryRunStore, type MemoryRunStoreOptions } from "./drivers/memory";
export { FunctionsError, type FunctionsErrorCode } from "./errors";
export type * from "./run-store";
