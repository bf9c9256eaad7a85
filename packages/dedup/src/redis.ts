export { createRedisStore, type RedisClient, type RedisStoreOptions } from "./drivers/redis.js";
export { DedupError, type DedupErrorCode } from "./errors.js";
export type { ClaimEntry, ClaimResult, DedupStore } from "./types.js";
