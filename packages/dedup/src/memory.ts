export { createMemoryStore, type MemoryStoreOptions } from "./drivers/memory.js";
export { DedupError, type DedupErrorCode } from "./errors.js";
export type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";
