export { type BatcherOptions, EventBatcher } from "./batcher";
export { EventClient, type SendPayload, type SendResult } from "./client";
export { EventSendError, type EventSendErrorCode, type EventSendErrorDetails } from "./errors";
export type { EventClientOptions, Logger, RetryOptions } from "./options";
