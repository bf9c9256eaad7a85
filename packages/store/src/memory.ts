export {
  createMemoryEventStore,
  createMemoryStore,
  type MemoryStoreOptions,
} from "./drivers/memory";
export { StoreError, type StoreErrorCode } from "./errors";
export type { EventStore, ListPage, ListQuery, StoredEvent } from "./types";
