export { createMemoryRunStore, type MemoryRunStoreOptions } from "./drivers/memory";
export {
  FunctionsError,
  type FunctionsErrorCode,
  type FunctionsErrorOptions,
  isFunctionsError,
} from "./errors";
export type * from "./run-store";
export {
  MAX_CLAIM_LIMIT,
  MAX_ID_LENGTH,
  MAX_STEPS_PER_CALL,
  MAX_URL_LENGTH,
  MAX_VALUE_BYTES,
} from "./validate";

/** Name of this package. */
export const PACKAGE_NAME = "@evt/functions";
export {
  type BatchConfig,
  batchKeyOf,
  batchOf,
  checkBatchEvents,
  MAX_BATCH_SIZE,
  MAX_BATCH_TIMEOUT_MS,
  MIN_BATCH_TIMEOUT_MS,
  parseBatchTimeout,
  UNKEYED_BATCH,
} from "./batching";
export {
  type CallInput,
  type CallOutcome,
  callBody,
  type JsonObject,
  memoOf,
  readCallAnswer,
  retryAfterMs,
  type StepOp,
  sdkEvent,
} from "./call";
export { type Canceller, type CancellerOptions, createCanceller } from "./cancel";
export {
  type ConcurrencyLimit,
  type ConcurrencyScope,
  type ConcurrencySlot,
  concurrencyIssues,
  concurrencyOf,
} from "./concurrency";
export {
  type CronScheduler,
  type CronSchedulerOptions,
  type CronTick,
  createCronScheduler,
} from "./cron-scheduler";
export {
  createDispatcher,
  type Dispatcher,
  type DispatcherOptions,
  type DispatchResult,
  type RunHolder,
  startsHeld,
  triggersOf,
} from "./dispatcher";
export {
  createExecutor,
  type Executor,
  type ExecutorHooks,
  type ExecutorLogger,
  type ExecutorOptions,
  type InvokeRequest,
  retriesOf,
  type SystemEvent,
} from "./executor";
export {
  type Debounce,
  debounceOf,
  durationMs,
  flowControlIssues,
  MAX_PRIORITY_FACTOR,
  priorityOf,
  type RateLimit,
  rateLimitOf,
} from "./flow-control";
export {
  DEFAULT_RETRIES,
  handleRegister,
  MAX_REGISTER_FUNCTIONS,
  MAX_RETRIES,
  parseRegisterBody,
  type RegisterAnswer,
  type RegisteredFunction,
  type RegisterIssue,
  type RegisterParseResult,
  type Registration,
  registerAnswer,
  storeRegistration,
} from "./register";
export {
  checkRegisterAuth,
  hashSigningKey,
  parseSigningKey,
  type SigningKey,
  signRequest,
} from "./signing";
export { type AppSyncer, type AppSyncerOptions, type AppSyncState, createAppSyncer } from "./sync";
export {
  DEFAULT_RETRY_POLICY,
  DEV_RETRY_POLICY,
  type RetryPolicy,
  retryDelayMs,
  sleepUntil,
} from "./timing";
export { runIdOfTraceparent, runTraceparent } from "./trace";
export {
  functionView,
  type RunStatusName,
  runDetailView,
  runView,
  unsupportedFeatures,
} from "./views";
export {
  createWaitMatcher,
  type WaitMatcher,
  type WaitMatcherOptions,
  waitResolution,
  waitTimeout,
} from "./waits";
